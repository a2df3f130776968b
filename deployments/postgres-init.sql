-- Run once by the postgres image on an empty data directory: MLflow and Prefect get databases of their own.
CREATE DATABASE mlflow OWNER mlops;
CREATE DATABASE prefect OWNER mlops;
