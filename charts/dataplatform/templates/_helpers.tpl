{{/* Names, labels and the pieces shared by every SparkApplication, written once. */}}

{{- define "dataplatform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name. Kept short on purpose: a scheduled run is named
<prefix>-<job>-cron-<19-digit timestamp> and its driver pod adds "-driver"; names used as
label values must stay within 63 characters.
*/}}
{{- define "dataplatform.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 20 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 20 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 20 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dataplatform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dataplatform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dataplatform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dataplatform.labels" -}}
helm.sh/chart: {{ include "dataplatform.chart" . }}
{{ include "dataplatform.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dataplatform
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "dataplatform.configMapName" -}}
{{ include "dataplatform.fullname" . }}-settings
{{- end }}

{{- define "dataplatform.sparkImage" -}}
{{ .Values.image.spark.repository }}:{{ .Values.image.spark.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "dataplatform.apiImage" -}}
{{ .Values.image.api.repository }}:{{ .Values.image.api.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "dataplatform.imagePullSecrets" -}}
{{- range .Values.imagePullSecrets }}
- name: {{ . }}
{{- end }}
{{- end }}

{{/*
Environment variables read from Secrets, for the secret keys listed in `names`
(github, s3, mongo). Call with (dict "root" $ "names" (list ...)).
*/}}
{{- define "dataplatform.secretEnv" -}}
{{- $s := .root.Values.secrets }}
{{- range .names }}
{{- if eq . "github" }}
- name: GITHUB_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.github.name is required" $s.github.name }}
      key: {{ $s.github.key }}
      optional: {{ $s.github.optional }}
{{- else if eq . "s3" }}
{{- if $s.s3.name }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $s.s3.name }}
      key: {{ $s.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s.s3.name }}
      key: {{ $s.s3.secretAccessKeyKey }}
{{- end }}
{{- else if eq . "mongo" }}
- name: MONGO_URI
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.mongo.name is required" $s.mongo.name }}
      key: {{ $s.mongo.uriKey }}
{{- else }}
{{- fail (printf "unknown secret %q: use github, s3 or mongo" .) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A job's command-line arguments from its `args` map: each key becomes its kebab-case flag
(runDate -> --run-date); true alone is a switch, false or "" leaves the flag out.
Rendered as a YAML list of strings, in key order.
*/}}
{{- define "dataplatform.jobArgs" -}}
{{- range $key, $value := . }}
{{- if kindIs "bool" $value }}
{{- if $value }}
- {{ printf "--%s" (kebabcase $key) | quote }}
{{- end }}
{{- else if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
- {{ printf "--%s" (kebabcase $key) | quote }}
- {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
What drivers and executors share: image, service account-less pod settings, environment.
Call with (dict "root" $ "key" <job key> "job" <job values>).
*/}}
{{- define "dataplatform.sparkPod" -}}
{{- $spark := .root.Values.spark -}}
labels:
  {{- include "dataplatform.selectorLabels" .root | nindent 2 }}
  app.kubernetes.io/component: {{ .key }}
  app.kubernetes.io/part-of: dataplatform
  {{- with $spark.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
envFrom:
  - configMapRef:
      name: {{ include "dataplatform.configMapName" .root }}
{{- $env := include "dataplatform.secretEnv" (dict "root" .root "names" .job.secrets) }}
{{- if trim $env }}
env:
  {{- $env | trim | nindent 2 }}
{{- end }}
podSecurityContext:
  {{- toYaml $spark.podSecurityContext | nindent 2 }}
securityContext:
  {{- toYaml $spark.securityContext | nindent 2 }}
{{- with $spark.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $spark.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The spec of a job's SparkApplication, also the template of its ScheduledSparkApplication.
Call with (dict "root" $ "key" <job key> "job" <job values> "scheduled" <bool>).
*/}}
{{- define "dataplatform.sparkSpec" -}}
{{- $root := .root }}
{{- $spark := $root.Values.spark }}
{{- $job := .job }}
{{- $driver := merge (deepCopy ($job.driver | default dict)) (deepCopy $spark.driver) }}
{{- $executor := merge (deepCopy ($job.executor | default dict)) (deepCopy $spark.executor) }}
{{- $dyn := merge (deepCopy ($job.dynamicAllocation | default dict)) (deepCopy $spark.dynamicAllocation) }}
{{- $conf := merge (deepCopy ($job.sparkConf | default dict)) (deepCopy $spark.sparkConf) }}
{{- $args := $job.args | default dict }}
{{- if .scheduled }}
{{- $args = merge (deepCopy ($job.schedule.args | default dict)) (deepCopy $args) }}
{{- end }}
{{- $argList := include "dataplatform.jobArgs" $args }}
type: Python
mode: cluster
sparkVersion: {{ $spark.version | quote }}
image: {{ include "dataplatform.sparkImage" $root }}
imagePullPolicy: {{ $root.Values.image.spark.pullPolicy }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
mainApplicationFile: {{ printf "%s/%s/__main__.py" (trimSuffix "/" $spark.appRoot) (required "jobs.<job>.module is required" $job.module) }}
{{- if trim $argList }}
arguments:
  {{- $argList | trim | nindent 2 }}
{{- else }}
arguments: []
{{- end }}
sparkConf:
  {{- range $k, $v := $conf }}
  {{ $k }}: {{ toString $v | quote }}
  {{- end }}
restartPolicy:
  {{- toYaml (ternary $spark.scheduled.restartPolicy $spark.restartPolicy (eq .scheduled true)) | nindent 2 }}
timeToLiveSeconds: {{ int64 $spark.timeToLiveSeconds }}
{{- if $dyn.enabled }}
dynamicAllocation:
  enabled: true
  initialExecutors: {{ int $dyn.initialExecutors }}
  minExecutors: {{ int $dyn.minExecutors }}
  maxExecutors: {{ int $dyn.maxExecutors }}
  shuffleTrackingEnabled: true
  shuffleTrackingTimeout: {{ int64 $dyn.shuffleTrackingTimeout }}
{{- end }}
driver:
  cores: {{ int $driver.cores }}
  {{- with $driver.coreRequest }}
  coreRequest: {{ . | quote }}
  {{- end }}
  coreLimit: {{ $driver.coreLimit | default (toString $driver.cores) | quote }}
  memory: {{ $driver.memory | quote }}
  memoryOverhead: {{ $driver.memoryOverhead | quote }}
  serviceAccount: {{ $spark.serviceAccountName }}
  {{- include "dataplatform.sparkPod" . | trim | nindent 2 }}
executor:
  {{- if not $dyn.enabled }}
  instances: {{ int $executor.instances }}
  {{- end }}
  cores: {{ int $executor.cores }}
  {{- with $executor.coreRequest }}
  coreRequest: {{ . | quote }}
  {{- end }}
  coreLimit: {{ $executor.coreLimit | default (toString $executor.cores) | quote }}
  memory: {{ $executor.memory | quote }}
  memoryOverhead: {{ $executor.memoryOverhead | quote }}
  {{- include "dataplatform.sparkPod" . | trim | nindent 2 }}
{{- end }}
