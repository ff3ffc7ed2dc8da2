#!/bin/sh
# HEALTHCHECK of the runtime image: the configuration still passes nginx -t
# (module loads, Redis host name resolves), the master process is alive, and
# (unless PS_HEALTH_URL is empty) the stats location answers 200. A degraded
# Redis does not make the container unhealthy: restarting nginx would not
# help, and open connections stay up (alert on the stats instead).
nginx -t -q 2>/dev/null || { echo "nginx -t failed"; exit 1; }
pid=$(cat /run/nginx/nginx.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null || { echo "no nginx master"; exit 1; }
if [ -n "${PS_HEALTH_URL:-}" ]; then
  curl -fsS -o /dev/null --max-time 3 "$PS_HEALTH_URL" || { echo "no answer from $PS_HEALTH_URL"; exit 1; }
fi
exit 0
