{{- define "ops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- define "ops.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "ops.dbSecret" -}}
{{- .Values.databases.existingSecret | default (printf "%s-db" (include "ops.fullname" .)) -}}
{{- end -}}

{{/* One ops Job: dict root, step, args. */}}
{{- define "ops.job" -}}
{{- $root := .root -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "ops.fullname" $root }}-{{ .step }}-r{{ $root.Release.Revision }}
  labels:
    {{- include "ops.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .step }}
spec:
  backoffLimit: {{ $root.Values.backoffLimit }}
  template:
    metadata:
      labels:
        {{- include "ops.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .step }}
    spec:
      restartPolicy: Never
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .step }}
          image: {{ $root.Values.image.repository }}:{{ $root.Values.image.tag | default $root.Chart.AppVersion }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
            {{- if $root.Values.tls.existingSecret }}
            - --outbound-ca=/etc/perfbed/tls/ca.crt
            {{- if $root.Values.tls.mtls }}
            - --client-cert=/etc/perfbed/tls/client.crt
            - --client-key=/etc/perfbed/tls/client.key
            {{- end }}
            {{- end }}
          env:
            - name: PERFBED_TESTBED
              value: /etc/perfbed/testbed.toml
            - name: RUST_LOG
              value: {{ $root.Values.logLevel | quote }}
            - name: PERFBED_LEDGER_DB
              valueFrom:
                secretKeyRef: {name: {{ include "ops.dbSecret" $root }}, key: ledger-db, optional: true}
            - name: PERFBED_ORACLE_DB
              valueFrom:
                secretKeyRef: {name: {{ include "ops.dbSecret" $root }}, key: oracle-db, optional: true}
          resources:
            {{- toYaml $root.Values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: testbed
              mountPath: /etc/perfbed/testbed.toml
              subPath: testbed.toml
            {{- if $root.Values.tls.existingSecret }}
            - name: tls
              mountPath: /etc/perfbed/tls
              readOnly: true
            {{- end }}
      volumes:
        - name: testbed
          configMap:
            name: {{ include "ops.fullname" $root }}-testbed
        {{- with $root.Values.tls.existingSecret }}
        - name: tls
          secret:
            secretName: {{ . }}
        {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
