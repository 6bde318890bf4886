// Everything the function app needs, in one resource group, with no key or secret in any app setting:
// - a user-assigned managed identity: Graph tokens (once app roles are granted to it: docs/permissions.md), the
//   storage account, Key Vault and Application Insights, all through Entra ID;
// - a storage account with shared keys switched off: the Functions host, the deployment package, the state
//   store (Table Storage, COPROD_STATE as an account URL) and the notifications queue (a connection of its own,
//   COPROD_QUEUE, through the identity);
// - Key Vault (RBAC) holding the signing key, the ACS connection string and the GOV.UK Notify key, referenced from
//   app settings;
// - Application Insights on Log Analytics, local authentication off (the identity publishes);
// - a Flex Consumption plan and a Python 3.11 function app, its settings a resource of their own (below).
// The shape follows Microsoft's Flex Consumption azd quickstart for Python (Azure-Samples/
// functions-quickstart-python-http-azd) and the Azure Verified Modules' site module it uses.
targetScope = 'resourceGroup'

param environmentName string
param location string
param tags object

param m365TenantId string
param m365SiteId string
param m365OrganizerId string
param m365Sender string
param m365GuestGroupId string
param m365AuthorityHost string
param m365GraphEndpoint string

@secure()
param signingKey string
param programmeName string
param publicUrl string
param serviceSettings object
@secure()
param acsConnectionString string
@secure()
param notifyApiKey string

// 40 is the documented floor (https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out;
// lower values were a preview in a few regions only) and 1000 the ceiling.
@minValue(40)
@maxValue(1000)
@description('Most on-demand instances per function group (the HTTP functions together; each other trigger on its own), not for the whole app: the pages scale, runs take turns (a lease in the state store).')
param maximumInstanceCount int = 40

var suffix = uniqueString(subscription().id, resourceGroup().id, environmentName)
var appName = 'func-coprod-${suffix}'
var deploymentContainer = 'app-package'
// The site's own host name: with secure unique default hostnames it is <name>-<hash>.<region>.azurewebsites.net,
// so it cannot be put together from the name
var pagesUrl = empty(publicUrl) ? 'https://${functionApp.properties.defaultHostName}' : publicUrl

// Built-in role definitions (ids are the same in every tenant)
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // the Functions host, the deployment package
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // the notifications queue: trigger and output
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-coprod-${suffix}'
  location: location
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-coprod-${suffix}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-coprod-${suffix}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stcoprod${take(suffix, 16)}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainer
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-coprod-${take(suffix, 12)}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
  }
}

resource signingSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'coprod-signing-key'
  properties: { value: signingKey }
}

resource acsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(acsConnectionString)) {
  parent: vault
  name: 'coprod-acs-connection-string'
  properties: { value: acsConnectionString }
}

resource notifySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(notifyApiKey)) {
  parent: vault
  name: 'coprod-notify-api-key'
  properties: { value: notifyApiKey }
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The Functions host and the telemetry, through the identity
var hostSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
}

// The configuration contract (docs/configuration.md). Blank means the app's own default.
// M365_CLIENT_SECRET, M365_CLIENT_CERTIFICATE_PATH and M365_CA_BUNDLE are left out on purpose: in Azure the
// managed identity replaces the app credential, and no TLS proxy stands between the app and Microsoft.
// The notifications queue's own connection (functions/notifications.py, connection="COPROD_QUEUE"): the account's
// queue endpoint, through the identity, which holds Storage Queue Data Contributor on the account (queueContributor)
var queueSettings = {
  COPROD_QUEUE__queueServiceUri: storage.properties.primaryEndpoints.queue
  COPROD_QUEUE__credential: 'managedidentity'
  COPROD_QUEUE__clientId: identity.properties.clientId
}

var m365Settings = {
  M365_TENANT_ID: m365TenantId
  M365_CLIENT_ID: identity.properties.clientId
  M365_USE_MANAGED_IDENTITY: 'true'
  M365_AUTHORITY_HOST: m365AuthorityHost
  M365_GRAPH_ENDPOINT: m365GraphEndpoint
  M365_SITE_ID: m365SiteId
  M365_ORGANIZER_ID: m365OrganizerId
  M365_SENDER: m365Sender
  M365_GUEST_GROUP_ID: m365GuestGroupId
}
var serviceDefaults = {
  COPROD_GUEST_AUTO_APPROVE_DOMAINS: ''
  COPROD_GUEST_BLOCKED_DOMAINS: ''
  COPROD_ADMIN_EMAIL: ''
  COPROD_MAX_INVITES_PER_RUN: ''
  COPROD_SYNC_SCHEDULE: ''
  COPROD_SEND_PER_MINUTE: ''
  COPROD_SEND_PER_DAY: ''
  COPROD_MAIL_TRANSPORT: ''
  COPROD_ACS_SENDER: ''
  COPROD_REMINDER_HOURS: ''
  COPROD_BRIEF_HOURS: ''
  COPROD_MEETING_LOBBY: ''
  COPROD_GRAPH_TIMEOUT: ''
  COPROD_GRAPH_MAX_ATTEMPTS: ''
  COPROD_GRAPH_MAX_RETRY_SECONDS: ''
  COPROD_GRAPH_CONCURRENCY: ''
  COPROD_RECHECK_SECONDS: ''
  COPROD_LEASE_SECONDS: ''
  COPROD_SUBSCRIBE_PER_CLIENT: ''
  COPROD_SUBSCRIBE_PER_HOUR: ''
  COPROD_BOOK_PER_CLIENT: ''
  COPROD_BOOK_PER_HOUR: ''
  COPROD_BOOK_PER_ADDRESS: ''
  COPROD_CONTRIBUTE_PER_CLIENT: ''
  COPROD_CONTRIBUTE_PER_HOUR: ''
  COPROD_PRIVACY_CONTROLLER: ''
  COPROD_PRIVACY_CONTACT: ''
  COPROD_CONTACT_PHONE: ''
  COPROD_CONTACT_HOURS: ''
  COPROD_RETENTION_DAYS: ''
  COPROD_GUEST_REVIEW_DAYS: ''
  COPROD_PREREADING_HOURS: ''
  COPROD_RESYNC_HOURS: ''
  COPROD_STATE_PREFIX: ''
  COPROD_NOTIFY_BASE_URL: ''
  COPROD_NOTIFY_SMS_TEMPLATE_ID: ''
  COPROD_NOTIFY_LETTER_TEMPLATE_ID: ''
  COPROD_NOTIFY_EMAIL_TEMPLATE_ID: ''
}
var serviceSet = {
  COPROD_PROGRAMME_NAME: programmeName
  COPROD_STATE: 'https://${storage.name}.table.${environment().suffixes.storage}'
  COPROD_PUBLIC_URL: pagesUrl
  COPROD_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=${signingSecret.properties.secretUri})'
  COPROD_ACS_CONNECTION_STRING: empty(acsConnectionString) ? '' : '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=coprod-acs-connection-string)'
  COPROD_NOTIFY_API_KEY: empty(notifyApiKey) ? '' : '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=coprod-notify-api-key)'
}
var appSettings = union(hostSettings, queueSettings, m365Settings, serviceDefaults, serviceSettings, serviceSet)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-coprod-${suffix}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: { reserved: true }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'app' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    // No ftpsState: Flex Consumption has no FTP and refuses the property (error 51021). The settings are the
    // resource below, not siteConfig.appSettings
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
  dependsOn: [blobOwner, packages]
}

// The settings as the site's 'appsettings' config: an object taken as it is. A `[for ... in items(...)]` loop over
// them in siteConfig would not compile (BCP178: the identity's client id, the connection string and the secret's
// address exist only once Azure has made them; Azure/bicep issue 1917). This replaces every setting on each deploy:
// the template owns them all (optional ones through serviceSettings).
resource appSettingsConfig 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: appSettings
  dependsOn: [queueContributor, tableContributor, secretsUser, metricsPublisher]
}

output functionAppName string = functionApp.name
output publicUrl string = pagesUrl
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
