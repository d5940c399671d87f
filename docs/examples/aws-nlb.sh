# UNTESTED here (needs an AWS account): turn on PROXY v2 for an NLB's target group.
aws elbv2 modify-target-group-attributes --target-group-arn ARN \
    --attributes Key=proxy_protocol_v2.enabled,Value=true
