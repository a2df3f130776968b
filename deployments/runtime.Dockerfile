# The training + inference image: `python -m algorithms.train` and `python -m algorithms.serve` run in it.
# Only algorithms/ is copied: algorithms import nothing of the platform (docs/architecture.md).
# No ENTRYPOINT: each container's command comes from its ContainerSpec.
#   DOCKER_BUILDKIT=0 docker build -f deployments/runtime.Dockerfile -t mlops-lite/runtime:latest .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    YOLO_OFFLINE=true \
    YOLO_AUTOINSTALL=false \
    YOLO_CONFIG_DIR=/tmp/ultralytics

# libgomp: OpenMP for xgboost/torch wheels; libgl/libglib: opencv (ultralytics).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The lock is a full `pip freeze`: --no-deps installs exactly it, the same set the tests ran against.
COPY requirements/lock.txt /tmp/lock.txt
RUN pip install --no-deps -r /tmp/lock.txt && rm /tmp/lock.txt

COPY algorithms/ /app/algorithms/

# User code never needs root.
RUN useradd --create-home --uid 10001 mlops && mkdir -p /tmp/ultralytics && chown mlops /tmp/ultralytics
USER mlops
ENV PYTHONPATH=/app HOME=/home/mlops

EXPOSE 3000
