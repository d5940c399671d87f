# UNTESTED here (needs an Azure subscription): turn on "TCP proxy v2" for a
# Private Link service.
az network private-link-service update --resource-group RESOURCE_GROUP \
    --name twisted-service --enable-proxy-protocol true
