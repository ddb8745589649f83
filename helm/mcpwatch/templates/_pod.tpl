{{/*
The pod template shared by the DaemonSet, the Deployment and the StatefulSet. Security settings are fixed, not
values: the image runs as uid 10001 with a read-only root filesystem, state in /var/lib/mcpwatch
and scratch space in /tmp.
*/}}
{{- define "mcpwatch.podTemplate" -}}
metadata:
  labels:
    {{- include "mcpwatch.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Rolls the pods when the rendered configuration changes.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "mcpwatch.serviceAccountName" . }}
  # mcpwatch does not call the Kubernetes API.
  automountServiceAccountToken: false
  # The pause container becomes PID 1 and reaps the orphaned grandchildren of stdio MCP servers
  # (npx, sh -c wrappers) that mcpwatch kills by process group; node as PID 1 would leave zombies.
  shareProcessNamespace: true
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  {{- if and (eq .Values.state.type "hostPath") .Values.state.hostPath.fixPermissions }}
  initContainers:
    # A new hostPath directory belongs to root: hand it to uid 10001 once, then exit.
    - name: state-permissions
      image: {{ include "mcpwatch.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["chown", "10001:10001", "/var/lib/mcpwatch"]
      securityContext:
        runAsNonRoot: false
        runAsUser: 0
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        capabilities:
          drop: ["ALL"]
          add: ["CHOWN"]
      volumeMounts:
        - name: state
          mountPath: /var/lib/mcpwatch
  {{- end }}
  containers:
    - name: mcpwatch
      image: {{ include "mcpwatch.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run", "-c", "/etc/mcpwatch/mcpwatch.yaml"]
      env:
        # Always set, even empty: an empty value overrides the image's own NODE_OPTIONS.
        - name: NODE_OPTIONS
          value: {{ .Values.nodeOptions | quote }}
        {{- if eq .Values.mode "statefulset" }}
        # The pod's name ends in its ordinal: config.sharding.ordinal (set by the ConfigMap) reads it.
        # The name works on every Kubernetes version; the apps.kubernetes.io/pod-index label needs 1.28.
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- end }}
        {{- range .Values.secretEnv }}
        - name: {{ .name }}
          valueFrom:
            secretKeyRef:
              name: {{ .secretName }}
              key: {{ .secretKey }}
              {{- if .optional }}
              optional: true
              {{- end }}
        {{- end }}
        {{- range .Values.extraEnv }}
        - name: {{ .name }}
          value: {{ .value | quote }}
        {{- end }}
      ports:
        - name: otlp-grpc
          containerPort: {{ .Values.ports.otlpGrpc }}
          protocol: TCP
          {{- if and (eq .Values.mode "daemonset") .Values.hostPorts.enabled }}
          hostPort: {{ .Values.hostPorts.otlpGrpc }}
          {{- end }}
        - name: otlp-http
          containerPort: {{ .Values.ports.otlpHttp }}
          protocol: TCP
          {{- if and (eq .Values.mode "daemonset") .Values.hostPorts.enabled }}
          hostPort: {{ .Values.hostPorts.otlpHttp }}
          {{- end }}
        - name: metrics
          containerPort: {{ .Values.ports.metrics }}
          protocol: TCP
        - name: health
          containerPort: {{ .Values.ports.health }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: health
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: health
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        capabilities:
          drop: ["ALL"]
        seccompProfile:
          type: RuntimeDefault
      volumeMounts:
        - name: config
          mountPath: /etc/mcpwatch
          readOnly: true
        - name: state
          mountPath: /var/lib/mcpwatch
        - name: tmp
          mountPath: /tmp
        {{- range .Values.credentialFiles }}
        - name: cred-{{ .name }}
          mountPath: /var/run/secrets/mcpwatch/{{ .name }}
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "mcpwatch.fullname" . }}
    {{- if not (and (eq .Values.mode "statefulset") (eq .Values.state.type "persistentVolumeClaim")) }}
    # mode=statefulset with a claim: the volume comes from the StatefulSet's volumeClaimTemplates.
    - name: state
      {{- if eq .Values.state.type "hostPath" }}
      hostPath:
        path: {{ .Values.state.hostPath.path }}
        type: DirectoryOrCreate
      {{- else if eq .Values.state.type "persistentVolumeClaim" }}
      persistentVolumeClaim:
        claimName: {{ include "mcpwatch.stateClaimName" . }}
      {{- else if .Values.state.emptyDir.sizeLimit }}
      emptyDir:
        sizeLimit: {{ .Values.state.emptyDir.sizeLimit }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.tmp.sizeLimit }}
    {{- range .Values.credentialFiles }}
    - name: cred-{{ .name }}
      {{- if .secret }}
      secret:
        secretName: {{ .secret.secretName }}
        # 0440: the key is the agent's (fsGroup 10001) alone.
        defaultMode: 288
        items:
          - key: {{ .secret.secretKey }}
            path: {{ .secret.secretKey }}
      {{- else }}
      # The kubelet renews the token before it expires; the token is of the chart's service account,
      # whatever automountServiceAccountToken says (that is the API token, which mcpwatch needs not).
      projected:
        sources:
          - serviceAccountToken:
              path: token
              audience: {{ .serviceAccountToken.audience | quote }}
              expirationSeconds: {{ .serviceAccountToken.expirationSeconds | default 3600 }}
      {{- end }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
