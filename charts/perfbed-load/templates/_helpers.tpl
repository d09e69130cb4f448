{{- define "load.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- define "load.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "load.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{/* One run per release revision: its results folder and job names. */}}
{{- define "load.run" -}}
{{- if .Values.runId -}}
{{ .Values.runId }}
{{- else -}}
{{ include "load.fullname" . }}-r{{ .Release.Revision }}
{{- end -}}
{{- end -}}
{{- define "load.claim" -}}
{{- .Values.results.persistence.existingClaim | default (printf "%s-results" (include "load.fullname" .)) -}}
{{- end -}}
{{- define "load.scheme" -}}
{{ if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end -}}
