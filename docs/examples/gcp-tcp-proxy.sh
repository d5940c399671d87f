# UNTESTED here (needs a GCP project): a TCP proxy load balancer that sends a
# PROXY v1 header, and a health check that sends one too.
gcloud compute health-checks create tcp twisted-check --port=8080 --proxy-header=PROXY_V1
gcloud compute target-tcp-proxies create twisted-proxy \
    --backend-service=twisted-backend --proxy-header=PROXY_V1
# An existing proxy:
gcloud compute target-tcp-proxies update twisted-proxy --proxy-header=PROXY_V1
