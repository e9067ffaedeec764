{{/*
Names and labels.
*/}}
{{- define "engine.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, at most 63 characters (DNS label).
*/}}
{{- define "engine.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "engine.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "engine.selectorLabels" -}}
app.kubernetes.io/name: {{ include "engine.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "engine.labels" -}}
helm.sh/chart: {{ include "engine.chart" . }}
{{ include "engine.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "engine.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "engine.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "engine.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The Secret the API key is read from: existingSecret wins, else the one sealer sealed for.
Fails when the values give neither, since the pod could never start.
*/}}
{{- define "engine.apiKeySecretName" -}}
{{- $sealer := .Values.sealer | default dict }}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else if $sealer.secretName }}
{{- $sealer.secretName }}
{{- else }}
{{- fail "engine: no API key source: set the sealer values (written by `sealer render ENV`) or existingSecret" }}
{{- end }}
{{- end }}

{{/*
The namespace the SealedSecret goes to. Strict and namespace-wide ciphertexts open only in
sealer.namespace, so the release must be installed there; a cluster-wide ciphertext opens
anywhere, so it follows the release (the Deployment can only read a Secret in its own
namespace).
*/}}
{{- define "engine.sealedSecretNamespace" -}}
{{- $sealer := .Values.sealer | default dict }}
{{- if eq $sealer.scope "cluster-wide" }}
{{- .Release.Namespace }}
{{- else if ne $sealer.namespace .Release.Namespace }}
{{- fail (printf "engine: sealer.namespace is %q but the release namespace is %q: a %s SealedSecret opens only in %q, where the Deployment could not read it; install with --namespace %s or reseal for %q" $sealer.namespace .Release.Namespace $sealer.scope $sealer.namespace $sealer.namespace .Release.Namespace) }}
{{- else }}
{{- $sealer.namespace }}
{{- end }}
{{- end }}

{{/*
Annotations the controller reads to pick the scope (empty for strict).
*/}}
{{- define "engine.scopeAnnotations" -}}
{{- if eq .scope "cluster-wide" }}
sealedsecrets.bitnami.com/cluster-wide: "true"
{{- else if eq .scope "namespace-wide" }}
sealedsecrets.bitnami.com/namespace-wide: "true"
{{- end }}
{{- end }}

{{/*
Checks the values against each other where the schema cannot.
*/}}
{{- define "engine.checkValues" -}}
{{- $sealer := .Values.sealer | default dict }}
{{- if and (not .Values.existingSecret) $sealer.secretName }}
{{- if not (hasKey ($sealer.encryptedData | default dict) .Values.apiKey.secretKey) }}
{{- fail (printf "engine: sealer.encryptedData has no entry %q (apiKey.secretKey): render the values with that entry or set apiKey.secretKey" .Values.apiKey.secretKey) }}
{{- end }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if eq .name $.Values.apiKey.envName }}
{{- fail (printf "engine: extraEnv sets %s, which the chart fills from the Secret (apiKey.envName)" .name) }}
{{- end }}
{{- end }}
{{- end }}
