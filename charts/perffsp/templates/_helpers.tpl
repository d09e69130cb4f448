{{/* Names and labels. */}}
{{- define "perffsp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "perffsp.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "perffsp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The simulators to deploy: a list of {name, fsps, replicas, resources}. */}}
{{- define "perffsp.simulators" -}}
{{- $root := . -}}
{{- $payees := list -}}
{{- range .Values.fsps -}}
{{- if or (eq .role "payee") (eq .role "both") -}}
{{- $payees = append $payees . -}}
{{- end -}}
{{- end -}}
{{- $out := list -}}
{{- if eq .Values.mode "shared" -}}
{{- $ids := list -}}
{{- range $payees }}{{ $ids = append $ids .id }}{{ end -}}
{{- if $ids -}}
{{- $out = append $out (dict "name" (include "perffsp.fullname" $root) "fsps" $ids "replicas" $root.Values.replicas "resources" $root.Values.resources) -}}
{{- end -}}
{{- else -}}
{{- range $payees -}}
{{- $out = append $out (dict "name" (printf "%s-%s" (include "perffsp.fullname" $root) (.id | lower)) "fsps" (list .id) "replicas" (.replicas | default $root.Values.replicas) "resources" (.resources | default $root.Values.resources)) -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "list" $out) -}}
{{- end -}}

{{- define "perffsp.keysSecret" -}}
{{- .Values.jws.existingSecret | default (printf "%s-jws" (include "perffsp.fullname" .)) -}}
{{- end -}}
{{- define "perffsp.tlsSecret" -}}
{{- .Values.tls.existingSecret | default (printf "%s-tls" (include "perffsp.fullname" .)) -}}
{{- end -}}
{{- define "perffsp.ilpSecret" -}}
{{- .Values.ilpSecret.existingSecret | default (printf "%s-ilp" (include "perffsp.fullname" .)) -}}
{{- end -}}
