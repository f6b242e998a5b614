{{/*
The release's name prefix. Cut to 32 characters: a worker StatefulSet is named
<prefix>-worker-<role> (up to 19 more), and a StatefulSet's name may have at most 52 (its pods'
controller-revision-hash label adds 11 to it and must stay within 63).
*/}}
{{- define "orderflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 32 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 32 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 32 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "orderflow.workerName" -}}
{{- printf "%s-worker-%s" (include "orderflow.fullname" .root) .role -}}
{{- end -}}

{{- define "orderflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Labels of every object; `component` says which part it is (api, worker-order, ...). */}}
{{- define "orderflow.labels" -}}
{{ include "orderflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "orderflow.selectorLabels" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .root.Values.nameOverride }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
The environment every OrderFlow process shares: where Kafka, the registry and Elasticsearch
are, and how topics and tables are laid out (orderflow/config.py). Then the chart-wide
extraEnv. Each component adds its own variables and its own extraEnv after this.
*/}}
{{- define "orderflow.env" -}}
- name: ORDERFLOW_KAFKA_BOOTSTRAP
  value: {{ required "kafka.bootstrapServers: the Kafka brokers (host:port,...) are required" .Values.kafka.bootstrapServers | quote }}
- name: ORDERFLOW_REGISTRY_URL
  value: {{ required "schemaRegistry.url: the schema registry's Confluent-compatible URL is required" .Values.schemaRegistry.url | quote }}
- name: ORDERFLOW_ES_URL
  value: {{ required "elasticsearch.url: the Elasticsearch URL is required" .Values.elasticsearch.url | quote }}
- name: ORDERFLOW_PARTITIONS
  value: {{ .Values.kafka.partitions | int | toString | quote }}
- name: ORDERFLOW_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | int | toString | quote }}
- name: ORDERFLOW_MIN_INSYNC_REPLICAS
  value: {{ .Values.kafka.minInsyncReplicas | int | toString | quote }}
- name: ORDERFLOW_TABLE_STANDBY_REPLICAS
  value: {{ .Values.workers.tableStandbyReplicas | int | toString | quote }}
- name: ORDERFLOW_APP_ID
  value: {{ .Values.appId | quote }}
- name: ORDERFLOW_STATE_DIR
  value: /var/lib/orderflow
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Scheduling and security of every pod. */}}
{{- define "orderflow.podSpec" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "orderflow.container" -}}
image: {{ include "orderflow.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- with .Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The Secret holding the API key lines: the chart's own, or the operator's. */}}
{{- define "orderflow.apiKeysSecret" -}}
{{- if .Values.apiKeys.existingSecret -}}
{{- .Values.apiKeys.existingSecret -}}
{{- else if .Values.apiKeys.lines -}}
{{- printf "%s-api-keys" (include "orderflow.fullname" .) -}}
{{- end -}}
{{- end -}}
