# Two images from one file (build from the repository root after `make setup`, which fills jars/):
#
#   docker build --target spark --build-arg GIT_SHA=$(git describe --always --dirty) \
#     -t dataplatform-spark:0.1.0 .                              # jobs, run by the spark-operator
#   docker build --target api   -t dataplatform-api:0.1.0 .     # read-only API, no JVM
#
# Layer order: Python dependencies first (they change rarely), the jars next, the source last, so
# an edit of a job rebuilds only the last small layer.

ARG SPARK_IMAGE=apache/spark:4.2.0-scala2.13-java17-python3-ubuntu
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# ---------------------------------------------------------------------------------------------
# requirements: split pyproject.toml's dependencies into what each image installs.
#   spark: everything but pyspark (the base image already has Spark 4.2.0 and its Python side in
#          $SPARK_HOME/python, which spark-submit puts on PYTHONPATH for driver and executors;
#          a pip pyspark would add a second 400 MB copy of the same jars that nobody loads) and
#          delta-spark, installed with --no-deps because it requires pyspark by name;
#   api:   everything but the JVM side (pyspark, delta-spark): the API reads Delta with delta-rs.
# constraints.txt pins every version, as for local runs.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml constraints.txt ./
RUN python -c "import re, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
key = lambda d: re.split(r'[<>=!~\[; ]', d, maxsplit=1)[0].lower().replace('_', '-'); \
jvm = {'pyspark', 'delta-spark'}; \
open('requirements-spark.txt', 'w').write('\n'.join([d for d in deps if key(d) not in jvm] + ['importlib_metadata']) + '\n'); \
open('requirements-spark-nodeps.txt', 'w').write('\n'.join(d for d in deps if key(d) == 'delta-spark') + '\n'); \
open('requirements-api.txt', 'w').write('\n'.join(d for d in deps if key(d) not in jvm) + '\n')" \
 && grep -q delta-spark requirements-spark-nodeps.txt \
 && cat requirements-*.txt

# ---------------------------------------------------------------------------------------------
# spark: the image of every SparkApplication (driver and executors).
# ---------------------------------------------------------------------------------------------
FROM ${SPARK_IMAGE} AS spark
USER root
# The base is Ubuntu 22.04, whose python3 is 3.10; the project targets 3.11. uv installs a
# relocatable CPython 3.11 (python-build-standalone) and the venv the jobs run in.
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
RUN uv python install 3.11 \
 && uv venv --python 3.11 /opt/venv
COPY --from=requirements /src/requirements-spark.txt /src/requirements-spark-nodeps.txt /src/constraints.txt /tmp/req/
RUN uv pip install --python /opt/venv/bin/python -r /tmp/req/requirements-spark.txt -c /tmp/req/constraints.txt \
 && uv pip install --python /opt/venv/bin/python --no-deps -r /tmp/req/requirements-spark-nodeps.txt -c /tmp/req/constraints.txt \
 && rm -rf /tmp/req /usr/local/bin/uv

# The same jars/ folder as local runs (Delta, hadoop-aws, the AWS SDK v2 bundle), filled by
# scripts/fetch_jars.sh from tools/jars/pom.xml, and the project's pageviews source built from jvm/
# by scripts/build_jvm.sh. In $SPARK_HOME/jars they are on the driver and
# executor classpath from JVM start, so no spark.jars, Maven or Ivy is needed at run time.
COPY jars/*.jar /opt/spark/jars/
RUN for prefix in delta-spark_ delta-storage- hadoop-aws- bundle- dataplatform-pageviews; do \
      ls /opt/spark/jars/${prefix}*.jar >/dev/null || { echo "jars/ lacks ${prefix}*.jar: run make setup" >&2; exit 1; }; \
    done

# Driver and executors run the venv's Python; /opt/app on PYTHONPATH lets executors unpickle
# functions defined in jobs/* and common/* (spark-submit appends its own pyspark zips to it).
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python \
    PYTHONPATH=/opt/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /opt/app
COPY common/ /opt/app/common/
COPY jobs/ /opt/app/jobs/
# The code version the run ledger records (common/ledger.py): the image has no .git, so the
# build bakes it in: docker build --build-arg GIT_SHA=$(git describe --always --dirty) ...
ARG GIT_SHA=unknown
ENV DATAPLATFORM_VERSION=git:${GIT_SHA}

# The base image's non-root user (uid/gid 185); numeric so that runAsNonRoot can verify it.
USER 185:185
WORKDIR /opt/spark/work-dir

# ---------------------------------------------------------------------------------------------
# api: FastAPI + delta-rs, no JVM.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS api
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
COPY --from=requirements /src/requirements-api.txt /src/constraints.txt /tmp/req/
RUN pip install -r /tmp/req/requirements-api.txt -c /tmp/req/constraints.txt && rm -rf /tmp/req
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --no-create-home app
WORKDIR /opt/app
COPY common/ /opt/app/common/
# api/ includes api/static/vendor (the dashboard's chart library, copied there by `make setup`);
# .dockerignore leaves out api/web/node_modules.
COPY api/ /opt/app/api/
ENV API_HOST=0.0.0.0 \
    API_PORT=8000
EXPOSE 8000
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}/health\", timeout=2)"]
CMD ["python", "-m", "api"]
