#!/bin/bash
# Entrypoint of the Spark image (/opt/entrypoint.sh), after Apache Spark's Kubernetes contract:
#
#   driver ARGS...   what Spark's Kubernetes submission puts in a driver pod (the operator's
#                    spark-submit included): spark-submit in client mode inside the pod, bound to
#                    SPARK_DRIVER_BIND_ADDRESS (the pod IP); ARGS carry --properties-file, --class
#                    and the application with its arguments.
#   executor         an executor JVM, entirely from the SPARK_EXECUTOR_* / SPARK_DRIVER_URL / ...
#                    variables the driver sets on its executor pods.
#   anything else    run as is (python -m jobs.datagouv_catalog ..., bash, spark-operator ...).
#
# Everything runs under tini. A uid without a passwd entry (Kubernetes runAsUser, OpenShift) gets
# one: Hadoop's login and Spark need a user name.
set -euo pipefail

fail() { echo "entrypoint: $*" >&2; exit 1; }

# --- a user name for this uid --------------------------------------------------------------
uid="$(id -u)"
gid="$(id -g)"
if ! getent passwd "$uid" >/dev/null 2>&1; then
  entry="${SPARK_USER_NAME:-spark}:x:$uid:$gid:anonymous uid:${SPARK_HOME:-/opt/spark}:/bin/false"
  if [ -w /etc/passwd ]; then
    echo "$entry" >>/etc/passwd
  else
    wrapper="$(ls /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so 2>/dev/null | head -n 1 || true)"
    [ -n "$wrapper" ] || fail "uid $uid has no passwd entry, /etc/passwd is read-only and libnss_wrapper is missing"
    if NSS_WRAPPER_PASSWD="$(mktemp 2>/dev/null)" && NSS_WRAPPER_GROUP="$(mktemp 2>/dev/null)"; then
      { cat /etc/passwd; echo "$entry"; } >"$NSS_WRAPPER_PASSWD"
      { cat /etc/group; getent group "$gid" >/dev/null || echo "${SPARK_USER_NAME:-spark}:x:$gid:"; } >"$NSS_WRAPPER_GROUP"
      export LD_PRELOAD="$wrapper${LD_PRELOAD:+ $LD_PRELOAD}" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    else
      echo "entrypoint: uid $uid has no passwd entry and no writable temporary folder (mount one on /tmp)" >&2
    fi
  fi
  # Spark and Hadoop's simple authentication take the user name from these first.
  export SPARK_USER="${SPARK_USER:-${SPARK_USER_NAME:-spark}}"
  export HADOOP_USER_NAME="${HADOOP_USER_NAME:-$SPARK_USER}"
fi

# --- the executor's class path ---------------------------------------------------------------
# Spark's jars, then what the pod template or the user adds; the configuration folder and the
# Hadoop configuration first, so their files win over defaults inside jars.
spark_home="${SPARK_HOME:-/opt/spark}"
classpath="$spark_home/jars/*"
[ -n "${SPARK_CLASSPATH:-}" ] && classpath="$SPARK_CLASSPATH:$classpath"
[ -n "${SPARK_EXTRA_CLASSPATH:-}" ] && classpath="$classpath:$SPARK_EXTRA_CLASSPATH"
[ -n "${HADOOP_CONF_DIR:-}" ] && classpath="$HADOOP_CONF_DIR:$classpath"
classpath="${SPARK_CONF_DIR:-$spark_home/conf}:$classpath"
if [ -n "${HADOOP_HOME:-}" ] && [ -z "${SPARK_DIST_CLASSPATH:-}" ]; then
  SPARK_DIST_CLASSPATH="$("$HADOOP_HOME/bin/hadoop" classpath)"
  export SPARK_DIST_CLASSPATH
fi
[ -n "${SPARK_DIST_CLASSPATH:-}" ] && classpath="$classpath:$SPARK_DIST_CLASSPATH"

# SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ...: the executor's JVM options, one per variable, in the
# order of their numbers (values may hold spaces or '=').
java_opts=()
while read -r name; do
  [ -n "$name" ] && java_opts+=("${!name}")
done < <(compgen -e | grep -E '^SPARK_JAVA_OPT_[0-9]+$' | sort -t_ -k4 -n || true)

require() {  # the variables the executor cannot start without
  local missing=() name
  for name in "$@"; do [ -n "${!name:-}" ] || missing+=("$name"); done
  [ ${#missing[@]} -eq 0 ] || fail "executor: ${missing[*]} not set (set by the Spark driver on executor pods)"
}

case "${1:-}" in
  driver)
    shift
    cmd=("$spark_home/bin/spark-submit")
    [ -n "${SPARK_DRIVER_BIND_ADDRESS:-}" ] && cmd+=(--conf "spark.driver.bindAddress=$SPARK_DRIVER_BIND_ADDRESS")
    cmd+=(--deploy-mode client "$@")
    ;;
  executor)
    shift
    require SPARK_EXECUTOR_MEMORY SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES \
      SPARK_APPLICATION_ID SPARK_EXECUTOR_POD_IP SPARK_RESOURCE_PROFILE_ID SPARK_EXECUTOR_POD_NAME
    cmd=(
      "${JAVA_HOME:-/opt/java}/bin/java" "${java_opts[@]}"
      "-Xms$SPARK_EXECUTOR_MEMORY" "-Xmx$SPARK_EXECUTOR_MEMORY"
      -cp "$classpath"
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend
      --driver-url "$SPARK_DRIVER_URL"
      --executor-id "$SPARK_EXECUTOR_ID"
      --cores "$SPARK_EXECUTOR_CORES"
      --app-id "$SPARK_APPLICATION_ID"
      --hostname "$SPARK_EXECUTOR_POD_IP"
      --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID"
      --podName "$SPARK_EXECUTOR_POD_NAME"
      "$@"
    )
    ;;
  "")
    fail "no command: driver, executor, or a command to run"
    ;;
  *)
    cmd=("$@")
    ;;
esac

exec /usr/bin/tini -s -- "${cmd[@]}"
