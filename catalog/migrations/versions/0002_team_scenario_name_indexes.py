"""team, scenario, name indexes on train_job and serving

A team's resources of one scenario, in name order, are what the NATS module-data pages and the team-scoped
lists ask for. Datasets already have that index: the unique constraint uq_dataset_team_scenario_name.
With these, a page of training jobs or servings is an index range scan (no sort of the team's rows) and
its count is answered from the index alone.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "train_job": "ix_train_job_team_scenario_name",
    "serving": "ix_serving_team_scenario_name",
}


def upgrade() -> None:
    for table, name in INDEXES.items():
        op.create_index(name, table, ["team_id", "scenario", "name"], unique=False)


def downgrade() -> None:
    for table, name in INDEXES.items():
        op.drop_index(name, table_name=table)
