# The project's images from one file, built from the repository root after `make setup` (which
# fills jars/). `make images` builds them all offline with podman (scripts/images.sh); by hand:
#
#   podman build --target spark --build-arg GIT_SHA=$(git describe --always --dirty) \
#     -t dataplatform-spark:0.1.0 .                  # jobs: driver and executors of every SparkApplication
#   podman build --target api -t dataplatform-api:0.1.0 .    # read-only API, no JVM
#   (docker build takes the same arguments)
#
# The base is a build argument, PYTHON_IMAGE: any Debian bookworm image with Python 3.11 as
# `python` (venv included) and apt. By default the public python:3.11-slim-bookworm; offline,
# `make images` passes one the project makes from Debian packages with mmdebstrap.
# Both images install their own JRE and Python dependencies on it, so nothing else is pulled.
#
# Extra targets for the local Kubernetes cluster (no registry): `operator`, `minio`, `ferretdb`
# and `pause` copy binaries the project builds with Go from a named build context, `bins`:
#   podman build --target minio --build-context bins=$HOME/.cache/dataplatform/bin ...
#   podman build --target operator --build-context bins=$HOME/.cache/dataplatform/k8s/v1.34.4/bin ...
#
# Layer order: Python dependencies first (they change rarely), the jars next, the source last, so
# an edit of a job rebuilds only the last small layers.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The pip of both venvs (a base's own may be too old to build pyspark's sdist into a cached wheel).
ARG PIP_VERSION=26.3

# ---------------------------------------------------------------------------------------------
# requirements: pyproject.toml's dependencies, split into what each image installs.
#   spark: all of them (pyspark brings Spark itself: its jars and scripts become /opt/spark);
#   api:   all but the JVM side (pyspark, delta-spark): the API reads Delta with delta-rs.
# constraints.txt pins every version, as for local runs.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml constraints.txt ./
RUN python -c "import re, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
key = lambda d: re.split(r'[<>=!~\[; ]', d, maxsplit=1)[0].lower().replace('_', '-'); \
jvm = {'pyspark', 'delta-spark'}; \
open('requirements-spark.txt', 'w').write('\n'.join(deps) + '\n'); \
open('requirements-api.txt', 'w').write('\n'.join(d for d in deps if key(d) not in jvm) + '\n')" \
 && grep -q '^pyspark==' requirements-spark.txt && grep -q '^delta-spark==' requirements-spark.txt \
 && cat requirements-*.txt

# ---------------------------------------------------------------------------------------------
# spark: the image of every SparkApplication (driver and executors), Spark at /opt/spark.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS spark
ARG PIP_VERSION
USER root
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's JRE 17; tini runs as PID 1 (signals, zombies); procps for Spark's scripts; nss_wrapper
# gives an unknown uid a user name when /etc/passwd is read-only (entrypoint.sh). Debian's slim
# images leave out /usr/share/man, where the JRE's postinst registers its alternatives.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openjdk-17-jre-headless tini procps libnss-wrapper \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java \
 && /opt/java/bin/java -version \
 && groupadd --system --gid 185 spark \
 && useradd --system --uid 185 --gid spark --home-dir /home/spark --create-home --shell /bin/false spark

ENV JAVA_HOME=/opt/java \
    SPARK_HOME=/opt/spark \
    LANG=C.UTF-8 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/opt/spark/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Every Python dependency, pyspark and delta-spark included, from PyPI (the pip cache mount keeps
# pyspark's 450 MB download across builds whose requirements changed). An optional build secret
# `ca-certificates` (a CA bundle, e.g. behind a TLS-inspecting proxy) is trusted by pip during
# this step only: --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt
COPY --from=requirements /src/requirements-spark.txt /src/constraints.txt /tmp/req/
RUN --mount=type=cache,target=/root/.cache/pip,id=dataplatform-pip --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export PIP_CERT=/run/secrets/ca-certificates; fi \
 && python -m venv /opt/venv \
 && pip install "pip==${PIP_VERSION}" \
 && pip install -r /tmp/req/requirements-spark.txt -c /tmp/req/constraints.txt \
 && rm -rf /tmp/req

# SPARK_HOME: a real folder whose bin/, sbin/ and python/ are pyspark's own and whose jars/ links
# every jar of pyspark (the project's are added below); conf/ is empty so that the operator (or
# a user) can mount spark.properties or spark-defaults.conf over it; work-dir/ is the pods' cwd.
RUN pyspark="$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" \
 && mkdir -p /opt/spark/jars /opt/spark/conf /opt/spark/work-dir \
 && ln -s "$pyspark/bin" /opt/spark/bin \
 && ln -s "$pyspark/sbin" /opt/spark/sbin \
 && ln -s "$pyspark/python" /opt/spark/python \
 && ln -s "$pyspark"/jars/*.jar /opt/spark/jars/ \
 && chown 185:185 /opt/spark/work-dir \
 && chmod 1777 /opt/spark/work-dir \
 && test -x /opt/spark/bin/spark-submit \
 && ls /opt/spark/jars/spark-core_2.13-4.2.0.jar /opt/spark/jars/spark-kubernetes_2.13-4.2.0.jar >/dev/null

# The same jars/ folder as local runs (Delta, hadoop-aws, the AWS SDK v2 bundle), filled by
# scripts/fetch_jars.sh from tools/jars/pom.xml, and the project's pageviews source built from jvm/
# by scripts/build_jvm.sh. In $SPARK_HOME/jars they are on the driver and
# executor classpath from JVM start, so no spark.jars, Maven or Ivy is needed at run time.
COPY jars/*.jar /opt/spark/jars/
RUN for prefix in delta-spark_ delta-storage- hadoop-aws- bundle- jlibdeflate- dataplatform-pageviews; do \
      ls /opt/spark/jars/${prefix}*.jar >/dev/null || { echo "jars/ lacks ${prefix}*.jar: run make setup" >&2; exit 1; }; \
    done

# Apache Spark's Kubernetes contract: `driver ...`, `executor` (from SPARK_EXECUTOR_* variables),
# or any other command run as is.
COPY images/entrypoint.sh /opt/entrypoint.sh
ENTRYPOINT ["/opt/entrypoint.sh"]

# Driver and executors run the venv's Python; /opt/app on PYTHONPATH lets executors unpickle
# functions defined in jobs/* and common/*. SPARK_JARS_DIR: a job started with plain
# `python -m jobs.<job>` inside the image (local mode) finds the jars too.
ENV PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python \
    PYTHONPATH=/opt/app \
    SPARK_JARS_DIR=/opt/spark/jars \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /opt/app
COPY common/ /opt/app/common/
COPY jobs/ /opt/app/jobs/
# The code version the run ledger records (common/ledger.py): the image has no .git, so the
# build bakes it in: podman build --build-arg GIT_SHA=$(git describe --always --dirty) ...
ARG GIT_SHA=unknown
ENV DATAPLATFORM_VERSION=git:${GIT_SHA}

# The image's non-root user `spark` (uid/gid 185, as in Apache Spark's images); numeric so that
# runAsNonRoot can verify it.
USER 185:185
WORKDIR /opt/spark/work-dir

# ---------------------------------------------------------------------------------------------
# api: FastAPI + delta-rs, no JVM.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS api
ARG PIP_VERSION
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
COPY --from=requirements /src/requirements-api.txt /src/constraints.txt /tmp/req/
RUN --mount=type=cache,target=/root/.cache/pip,id=dataplatform-pip --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export PIP_CERT=/run/secrets/ca-certificates; fi \
 && python -m venv /opt/venv \
 && pip install "pip==${PIP_VERSION}" \
 && pip install -r /tmp/req/requirements-api.txt -c /tmp/req/constraints.txt \
 && rm -rf /tmp/req
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

# ---------------------------------------------------------------------------------------------
# operator: the Kubeflow spark-operator v2.5.2 (controller and webhook) on the Spark image, whose
# $SPARK_HOME/bin/spark-submit it runs for every application. The binary is built by
# scripts/build_k8s.sh (context `bins` = ~/.cache/dataplatform/k8s/<version>/bin). The operator's
# chart passes `controller start ...` / `webhook start ...` as args: the entrypoint runs them with
# the binary under tini, as the upstream image's /usr/bin/entrypoint.sh does.
# ---------------------------------------------------------------------------------------------
FROM spark AS operator
USER root
RUN mkdir -p /etc/k8s-webhook-server/serving-certs \
 && chown -R 185:185 /etc/k8s-webhook-server/serving-certs \
 && chmod -R g+rw /etc/k8s-webhook-server/serving-certs
COPY --from=bins spark-operator /usr/bin/spark-operator
USER 185:185
ENTRYPOINT ["/opt/entrypoint.sh", "/usr/bin/spark-operator"]
CMD []

# ---------------------------------------------------------------------------------------------
# minio and ferretdb: the Go-built servers of `make setup` (context `bins` =
# ~/.cache/dataplatform/bin), for the chart's development S3 and MongoDB. The Debian base is the
# one the other images share, so these add one layer each.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS minio
RUN mkdir -p /data && chown 1000:1000 /data
COPY --from=bins minio /usr/local/bin/minio
USER 1000:1000
EXPOSE 9000 9001
ENTRYPOINT ["/usr/local/bin/minio"]
CMD ["server", "/data", "--address", ":9000", "--console-address", ":9001"]

FROM ${PYTHON_IMAGE} AS ferretdb
RUN mkdir -p /data/db && chown 999:999 /data/db
COPY --from=bins ferretdb /usr/local/bin/ferretdb
USER 999:999
EXPOSE 27017
ENTRYPOINT ["/usr/local/bin/ferretdb"]
CMD ["--listen-addr", ":27017", "--sqlite-dir", "/data/db"]

# ---------------------------------------------------------------------------------------------
# pause: the pod sandbox image, Kubernetes' static pause binary alone (context `bins` =
# ~/.cache/dataplatform/k8s/<version>/bin, built by scripts/build_k8s.sh).
# ---------------------------------------------------------------------------------------------
FROM scratch AS pause
COPY --from=bins pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
