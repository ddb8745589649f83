{{/*
Names and labels shared by every template. Everything that checks a combination of values lives in
"mcpwatch.validate", so the error a user sees names the key to change.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "mcpwatch.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* "<release>-<name>", just "<release>" when it already contains the name, or fullnameOverride. */}}
{{- define "mcpwatch.fullname" -}}
{{- $name := include "mcpwatch.name" . -}}
{{- $generated := printf "%s-%s" .Release.Name $name -}}
{{- if contains $name .Release.Name -}}
{{- $generated = .Release.Name -}}
{{- end -}}
{{- .Values.fullnameOverride | default $generated | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* Labels that select the pods; never change them on upgrade (selectors are immutable). */}}
{{- define "mcpwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "mcpwatch.labels" -}}
{{ include "mcpwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "mcpwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "mcpwatch.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end }}

{{/* repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "mcpwatch.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end }}

{{/* Local for a DaemonSet (agents reach the mcpwatch on their own node), Cluster otherwise. */}}
{{- define "mcpwatch.internalTrafficPolicy" -}}
{{- if .Values.service.internalTrafficPolicy -}}
{{- .Values.service.internalTrafficPolicy -}}
{{- else if eq .Values.mode "daemonset" -}}
Local
{{- else -}}
Cluster
{{- end -}}
{{- end }}

{{/* The headless Service that gives the StatefulSet's pods their stable names (mode=statefulset). */}}
{{- define "mcpwatch.headlessName" -}}
{{- printf "%s-headless" (include "mcpwatch.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end }}

{{/* The PersistentVolumeClaim the state volume uses in mode=deployment. */}}
{{- define "mcpwatch.stateClaimName" -}}
{{- .Values.state.persistentVolumeClaim.existingClaim | default (printf "%s-state" (include "mcpwatch.fullname" .)) -}}
{{- end }}

{{/* Fails the render with a message that names the values to change. */}}
{{- define "mcpwatch.validate" -}}
{{- if not (has .Values.mode (list "daemonset" "deployment" "statefulset")) -}}
{{- fail "mode is required: set --set mode=daemonset (one agent per node), --set mode=deployment (probes a shared set of servers) or --set mode=statefulset (splits the servers into `replicas` shards)" -}}
{{- end -}}
{{- if and (eq .Values.state.type "persistentVolumeClaim") (eq .Values.mode "daemonset") -}}
{{- fail "state.type=persistentVolumeClaim needs mode=deployment or mode=statefulset; a DaemonSet keeps state with state.type=hostPath" -}}
{{- end -}}
{{- if and (eq .Values.mode "statefulset") (hasKey .Values.config "sharding") -}}
{{- fail "config.sharding: leave it unset in mode=statefulset; the chart sets it from replicas and each pod's ordinal" -}}
{{- end -}}
{{- if and (eq .Values.mode "statefulset") (eq .Values.state.type "persistentVolumeClaim") .Values.state.persistentVolumeClaim.existingClaim -}}
{{- fail "state.persistentVolumeClaim.existingClaim cannot be used in mode=statefulset: each pod gets its own claim from a volumeClaimTemplate" -}}
{{- end -}}
{{- if and (eq .Values.state.type "hostPath") (ne .Values.mode "daemonset") -}}
{{- fail "state.type=hostPath needs mode=daemonset; a Deployment keeps state with state.type=persistentVolumeClaim" -}}
{{- end -}}
{{- if and (eq .Values.mode "deployment") (eq .Values.state.type "persistentVolumeClaim") (gt (int .Values.replicaCount) 1) -}}
{{- fail "state.type=persistentVolumeClaim needs replicaCount=1: replicas cannot share one SQLite state file" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.service.enabled) -}}
{{- fail "serviceMonitor.enabled needs service.enabled: the ServiceMonitor scrapes through the Service" -}}
{{- end -}}
{{- /* The kubelet's probes call ports.health: a health endpoint elsewhere, or on loopback, restarts the pod forever. */ -}}
{{- $health := .Values.config.health.endpoint | default "" | toString -}}
{{- if not (hasSuffix (printf ":%v" .Values.ports.health) $health) -}}
{{- fail (printf "config.health.endpoint %s: its port must be ports.health (%v), where the liveness and readiness probes call /healthz and /readyz; change one to match the other" $health .Values.ports.health) -}}
{{- end -}}
{{- if or (hasPrefix "127." $health) (hasPrefix "localhost:" $health) (hasPrefix "[::1]:" $health) -}}
{{- fail (printf "config.health.endpoint %s: the kubelet's probes come from outside the pod's loopback; listen on 0.0.0.0:%v" $health .Values.ports.health) -}}
{{- end -}}
{{- /* Only the state volume and /tmp are writable: a state file elsewhere stops the agent at start. */ -}}
{{- $state := .Values.config.state.path | default "" | toString -}}
{{- if and (hasPrefix "/" $state) (not (hasPrefix "/var/lib/mcpwatch/" $state)) (not (hasPrefix "/tmp/" $state)) -}}
{{- fail (printf "config.state.path %s: the root filesystem is read-only and the state volume is mounted at /var/lib/mcpwatch (/tmp is writable too, but goes with the pod); name the file under it, e.g. /var/lib/mcpwatch/state.db" $state) -}}
{{- end -}}
{{- range .Values.extraEnv -}}
{{- if eq .name "NODE_OPTIONS" -}}
{{- fail "extraEnv: set NODE_OPTIONS with the nodeOptions value, not in extraEnv (the container would get it twice)" -}}
{{- end -}}
{{- end -}}
{{- end }}
