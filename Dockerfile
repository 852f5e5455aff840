# The pose2gloss server: FastAPI + LiteRT, without TensorFlow (serving/README.md).
#
#   docker build -t pose2gloss-serve .
#   docker run --rm -p 8000:8000 -v "$PWD/path/to/bundle:/model:ro" pose2gloss-serve
#
# The model is a bundle folder (model.tflite, sign map, model_card.json) mounted at /model, or
# any path given in POSE2GLOSS_MODEL. Unset POSE2GLOSS_MODEL and pass CLEARML_API_HOST and keys
# to serve the newest ClearML model tagged "production" instead.
# PYTHON_IMAGE: any Debian bookworm image with Python 3.11 on PATH (e.g. a local stand-in where no registry is
# reachable). Behind a proxy with its own CA, pass it as a BuildKit secret: --secret id=pip_cert,src=ca.pem
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
# Only what the server imports, at the versions pinned for the whole project (used as constraints).
# pandas and pyarrow read the Kaggle parquet input; clearml fetches tagged models.
RUN --mount=type=secret,id=pip_cert,required=false \
    if [ -f /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    pip install -c requirements.txt \
        numpy ai-edge-litert fastapi uvicorn httptools python-multipart \
        prometheus-fastapi-instrumentator orjson pandas pyarrow clearml \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin pose2gloss

COPY pose2gloss/ pose2gloss/
COPY serving/ serving/

ENV PYTHONPATH=/app \
    POSE2GLOSS_MODEL=/model \
    POSE2GLOSS_HOST=0.0.0.0 \
    POSE2GLOSS_PORT=8000 \
    POSE2GLOSS_WORKERS=1

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as r; url = 'http://127.0.0.1:%s/ready' % os.environ['POSE2GLOSS_PORT']; sys.exit(r.urlopen(url, timeout=2).status != 200)"]
CMD ["python", "serving/pose2gloss.py"]
