// Entry point for `azd up`: a resource group, and in it everything the function app needs (resources.bicep).
// Parameters come from main.parameters.json, which reads them from the azd environment (`azd env set NAME value`).
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the azd environment; names and tags every resource.')
param environmentName string

// The regions that offer Flex Consumption: the list in Microsoft's Flex Consumption azd quickstart for Python
// (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep, 947c194 of 2025-05-07; read 2026-12-07),
// less eastus2euap (early access only). Microsoft's docs point to `az functionapp list-flexconsumption-locations`
// for today's list: add a region here when it appears there.
@minLength(1)
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
@description('Azure region for every resource: one that offers Flex Consumption (e.g. uksouth).')
param location string

@description('Name of the resource group to create (default: rg-<environmentName>).')
param resourceGroupName string = ''

// --- Microsoft 365 (the configuration contract: docs/permissions.md says how to find each id) ---------------
@description('M365_TENANT_ID: the Entra tenant (default: the tenant of this deployment).')
param m365TenantId string = tenant().tenantId
@description('M365_SITE_ID: the programme SharePoint site id (hostname,site-guid,web-guid).')
param m365SiteId string
@description('M365_ORGANIZER_ID: object id of the user who organises the Teams meetings.')
param m365OrganizerId string
@description('M365_SENDER: the mailbox that sends email (its userPrincipalName).')
param m365Sender string
@description('M365_GUEST_GROUP_ID: object id of the group whose members may use the programme site.')
param m365GuestGroupId string
@description('M365_AUTHORITY_HOST: token authority; blank for the public cloud.')
param m365AuthorityHost string = ''
@description('M365_GRAPH_ENDPOINT: Graph base URL; blank for the public cloud.')
param m365GraphEndpoint string = ''

// --- the service -------------------------------------------------------------------------------------------
@secure()
@minLength(32)
@description('COPROD_SIGNING_KEY: 32+ random characters; stored in Key Vault. Keep it across deployments: links already sent stop working when it changes.')
param signingKey string
@description('COPROD_PROGRAMME_NAME: the programme name participants see.')
param programmeName string = 'Co-production programme'
@description('COPROD_PUBLIC_URL: base URL of the public pages (blank: https:// and the function app\'s default host name).')
param publicUrl string = ''
@description('Optional COPROD_* settings, name to value (every one has a default in the app: docs/configuration.md). Example: {"COPROD_ADMIN_EMAIL": "coproduction-admins@council.example.org"}.')
param serviceSettings object = {}
@secure()
@description('COPROD_ACS_CONNECTION_STRING, only with COPROD_MAIL_TRANSPORT=acs; stored in Key Vault.')
param acsConnectionString string = ''
@secure()
@description('COPROD_NOTIFY_API_KEY, only for texts and letters through GOV.UK Notify (with a template id in serviceSettings: docs/notify.md); stored in Key Vault.')
param notifyApiKey string = ''

var tags = { 'azd-env-name': environmentName }

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'coprod-resources'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    m365TenantId: m365TenantId
    m365SiteId: m365SiteId
    m365OrganizerId: m365OrganizerId
    m365Sender: m365Sender
    m365GuestGroupId: m365GuestGroupId
    m365AuthorityHost: m365AuthorityHost
    m365GraphEndpoint: m365GraphEndpoint
    signingKey: signingKey
    programmeName: programmeName
    publicUrl: publicUrl
    serviceSettings: serviceSettings
    acsConnectionString: acsConnectionString
    notifyApiKey: notifyApiKey
  }
}

output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output COPROD_PUBLIC_URL string = resources.outputs.publicUrl
output MANAGED_IDENTITY_CLIENT_ID string = resources.outputs.identityClientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = resources.outputs.identityPrincipalId
