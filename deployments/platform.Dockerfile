# The platform image: Prefect flows (`python -m flows.serve_all`), the dashboard (streamlit) and the `mlops` CLI.
#   DOCKER_BUILDKIT=0 docker build -f deployments/platform.Dockerfile -t mlops-lite/platform:latest .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements/lock.txt /tmp/lock.txt
RUN pip install --no-deps -r /tmp/lock.txt && rm /tmp/lock.txt

COPY pyproject.toml README.md prefect.yaml /app/
COPY algorithms/ /app/algorithms/
COPY infra/ /app/infra/
COPY catalog/ /app/catalog/
COPY tasks/ /app/tasks/
COPY flows/ /app/flows/
COPY cli/ /app/cli/
COPY dashboard/ /app/dashboard/
RUN pip install --no-deps --no-build-isolation -e /app

RUN useradd --create-home --uid 10001 mlops && mkdir -p /data && chown mlops /data
USER mlops
ENV MLOPS_DATA_DIR=/data HOME=/home/mlops

EXPOSE 8501
CMD ["python", "-m", "flows.serve_all"]
