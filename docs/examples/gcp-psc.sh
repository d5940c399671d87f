# UNTESTED here (needs a GCP project): publish a service through Private
# Service Connect with the PROXY protocol on (v2, with the PSC connection id).
gcloud compute service-attachments create twisted-service \
    --region=REGION --producer-forwarding-rule=FORWARDING_RULE \
    --connection-preference=ACCEPT_AUTOMATIC --nat-subnets=PSC_SUBNET \
    --enable-proxy-protocol
