{{/* Names. */}}
{{- define "flatfare.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flatfare.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flatfare.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flatfare.gateway.fullname" -}}{{ include "flatfare.fullname" . }}-gateway{{- end }}
{{- define "flatfare.registry.fullname" -}}{{ include "flatfare.fullname" . }}-model-registry{{- end }}
{{- define "flatfare.metering.fullname" -}}{{ include "flatfare.fullname" . }}-metering{{- end }}

{{- define "flatfare.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flatfare.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels: call with (dict "root" $ "component" "gateway"). */}}
{{- define "flatfare.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flatfare.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "flatfare.labels" -}}
helm.sh/chart: {{ include "flatfare.chart" .root }}
{{ include "flatfare.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: flatfare
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* An image reference: call with (dict "root" $ "image" .Values.gateway.image). */}}
{{- define "flatfare.image" -}}
{{- $tag := default (default .root.Chart.AppVersion .root.Values.image.tag) .image.tag -}}
{{- if .root.Values.image.registry -}}
{{ printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .image.repository $tag }}
{{- else -}}
{{ printf "%s:%s" .image.repository $tag }}
{{- end -}}
{{- end }}

{{- define "flatfare.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Kafka client settings shared by the gateway, metering and the topics Job (Quarkus reads KAFKA_* as kafka.*). */}}
{{- define "flatfare.kafkaEnv" -}}
- name: FLATFARE_KAFKA_BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if .Values.kafka.sasl.mechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
{{- end }}
{{- if .Values.kafka.sasl.jaasConfigSecret.name }}
- name: KAFKA_SASL_JAAS_CONFIG
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.jaasConfigSecret.name | quote }}
      key: {{ .Values.kafka.sasl.jaasConfigSecret.key | quote }}
{{- end }}
{{- end }}

{{/* Database settings: call with (dict "prefix" "FLATFARE_GATEWAY" "db" .Values.gateway.database). */}}
{{- define "flatfare.databaseEnv" -}}
- name: {{ .prefix }}_DB_URL
  value: {{ .db.jdbcUrl | quote }}
- name: {{ .prefix }}_DB_USER
  valueFrom:
    secretKeyRef:
      name: {{ .db.existingSecret | quote }}
      key: {{ .db.usernameKey | quote }}
- name: {{ .prefix }}_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .db.existingSecret | quote }}
      key: {{ .db.passwordKey | quote }}
{{- end }}

{{/* A bearer token from a Secret: call with (dict "name" "FLATFARE_GATEWAY_ADMIN_TOKEN" "ref" .Values.gateway.adminToken). */}}
{{- define "flatfare.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.existingSecret | quote }}
      key: {{ .ref.key | quote }}
{{- end }}

{{/* The registry's address, for the gateway and the inference pools. */}}
{{- define "flatfare.registryEnv" -}}
- name: FLATFARE_REGISTRY_HOST
  value: {{ include "flatfare.registry.fullname" . | quote }}
- name: FLATFARE_REGISTRY_PORT
  value: {{ .Values.registry.service.port | quote }}
{{- end }}

{{/* Probes on the Quarkus health endpoints (SmallRye Health). */}}
{{- define "flatfare.probes" -}}
startupProbe:
  httpGet:
    path: /q/health/started
    port: http
  periodSeconds: 5
  failureThreshold: 60
readinessProbe:
  httpGet:
    path: /q/health/ready
    port: http
  periodSeconds: 5
  failureThreshold: 3
livenessProbe:
  httpGet:
    path: /q/health/live
    port: http
  periodSeconds: 10
  failureThreshold: 6
{{- end }}

{{- define "flatfare.podSecurityContext" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{- define "flatfare.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end }}

{{/* preStop: keep serving while endpoints and load balancers drop the pod, then SIGTERM starts the drain. */}}
{{- define "flatfare.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", "{{ . }}"]
{{- end }}

{{/* The scheduling block shared by the services: call with the component's values. */}}
{{- define "flatfare.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Resources with every quantity a string, as the API serializes them: call with a resources map. */}}
{{- define "flatfare.resources" -}}
{{- $r := . -}}
{{- range $section := list "requests" "limits" }}
{{- with index $r $section }}
{{ $section }}:
{{- range $k, $q := . }}
  {{ $k }}: {{ $q | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* A pool with the defaults it does not set; maps merge one level deep. Call with (dict "root" $ "pool" .). */}}
{{- define "flatfare.pool" -}}
{{- $p := deepCopy .root.Values.inference.poolDefaults -}}
{{- range $k, $v := .pool }}
{{- if and (kindIs "map" $v) (kindIs "map" (index $p $k)) }}
{{- $merged := deepCopy (index $p $k) }}
{{- range $k2, $v2 := $v }}{{- $_ := set $merged $k2 $v2 }}{{- end }}
{{- $_ := set $p $k $merged }}
{{- else }}
{{- $_ := set $p $k $v }}
{{- end }}
{{- end }}
{{- toYaml $p }}
{{- end }}

{{/* The inference service's configuration for one pool: its model under flatfare.inference.models."<id>". */}}
{{- define "flatfare.inferenceProperties" -}}
{{- $p := .pool -}}
{{- $key := printf "flatfare.inference.models.\"%s\"" $p.model.id -}}
# Generated by the Flatfare chart for pool {{ $p.name }}.
{{ $key }}.path={{ .root.Values.inference.modelMountPath }}/{{ $p.model.file }}
{{ $key }}.slots={{ $p.slots }}
{{ $key }}.queue={{ $p.queue }}
{{ $key }}.context={{ $p.context }}
{{ $key }}.threads={{ $p.threads }}
{{ $key }}.gpu-layers={{ $p.gpuLayers }}
{{ $key }}.embeddings={{ $p.embeddings }}
{{ $key }}.max-choices={{ $p.maxChoices }}
{{ $key }}.flash-attention={{ $p.flashAttention }}
# The registry knows this instance by its pod name and dials it at the pod's IP.
flatfare.inference.instance-id=${POD_NAME}
flatfare.inference.advertised-address=${POD_IP}:8090
flatfare.inference.native-extract-directory=/tmp/flatfare-llama
{{- with .root.Values.inference.nativeLibraryPath }}
flatfare.inference.native-library-path={{ . }}
{{- end }}
{{- end }}

{{/*
Bytes in a Kubernetes quantity ("2Gi", "1.5G", "500Mi", "1073741824"), as an integer.
*/}}
{{- define "flatfare.quantityBytes" -}}
{{- $q := toString . -}}
{{- $number := regexFind "^[0-9]+([.][0-9]*)?" $q -}}
{{- $unit := trimPrefix $number $q -}}
{{- $multipliers := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- if not (hasKey $multipliers $unit) -}}
{{- fail (printf "%s: a size in bytes or with one of the units Ki, Mi, Gi, Ti, k, M, G, T is needed here" $q) -}}
{{- end -}}
{{- mulf (float64 $number) (get $multipliers $unit) | int64 -}}
{{- end }}
