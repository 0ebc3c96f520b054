{{/* The five services, in the order they are rendered. */}}
{{- define "leadfarm.serviceNames" -}}
ingest qualifier router nurture audit
{{- end }}

{{- define "leadfarm.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's prefix: "leadfarm" for a release named leadfarm, else
     "<release>-leadfarm" (objects are named <prefix>-<service>). */}}
{{- define "leadfarm.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "leadfarm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "leadfarm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: leadfarm
{{- end }}

{{/* Selector labels of one service; call with (dict "root" $ "component" "router"). */}}
{{- define "leadfarm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leadfarm.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "leadfarm.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "leadfarm.configName" -}}
{{- printf "%s-config" (include "leadfarm.fullname" .) }}
{{- end }}

{{/* The Secret the pods read: the existing one, or the one the chart creates. */}}
{{- define "leadfarm.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "leadfarm.fullname" .)) }}
{{- end }}

{{- define "leadfarm.databaseSecretName" -}}
{{- .Values.database.existingSecret | default (include "leadfarm.secretName" .) }}
{{- end }}
