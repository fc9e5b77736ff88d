import { Alert, Button, Card, Checkbox, Group, NumberInput, PasswordInput, Select, Stack, TagsInput, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { EmptyState, ErrorNotice, LoadingState, unwrap } from '@apim/shared';
import { useDevportal } from '../client';
import { grantLabel, queryKeys, keysAt, useKeyManagers, useOauthKeys, type ApplicationKey, type KeyManager, type KeyType } from '../queries';
import { ConfirmDialog } from '@apim/shared';
import { CopyField } from './CopyField';

const DEFAULT_GRANTS = ['client_credentials'];

/** Grant types and callback URL, as the generate and update forms both ask for them. */
function GrantTypesField({ km, value, onChange }: { km: KeyManager; value: string[]; onChange: (v: string[]) => void }) {
  const available = km.availableGrantTypes?.length ? km.availableGrantTypes : DEFAULT_GRANTS;
  return (
    <Checkbox.Group label="Grant types" description="How the application may get access tokens" value={value} onChange={onChange}>
      <Group mt="xs" gap="md">
        {available.map((g) => (
          <Checkbox key={g} value={g} label={grantLabel(g)} />
        ))}
      </Group>
    </Checkbox.Group>
  );
}

/** Keys not made yet: the grant types and callback URL they get, then "Generate keys". */
export function GenerateKeysForm({
  applicationId,
  keyType,
  km,
  onSecret,
}: {
  applicationId: string;
  keyType: KeyType;
  km: KeyManager;
  onSecret: (keyMappingId: string, secret: string) => void;
}) {
  const api = useDevportal();
  const queries = useQueryClient();
  const [grants, setGrants] = useState<string[]>(DEFAULT_GRANTS);
  const [callbackUrl, setCallbackUrl] = useState('');
  const generate = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications/{applicationId}/generate-keys', {
          params: { path: { applicationId } },
          body: { keyType, keyManager: km.name, grantTypesToBeSupported: grants, callbackUrl: callbackUrl.trim() || undefined },
        }),
      ),
    onSuccess: (made) => {
      if (made.keyMappingId && made.consumerSecret) onSecret(made.keyMappingId, made.consumerSecret);
      void queries.invalidateQueries({ queryKey: queryKeys.oauthKeys(applicationId) });
    },
  });
  const needsCallback = grants.includes('authorization_code') || grants.includes('implicit');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    generate.mutate();
  };
  return (
    <form onSubmit={submit} aria-label={`Generate ${keyType.toLowerCase()} keys`}>
      <Stack>
        <Text>
          The application has no {keyType.toLowerCase()} keys at {km.displayName ?? km.name} yet.
        </Text>
        <GrantTypesField km={km} value={grants} onChange={setGrants} />
        <TextInput
          label="Callback URL"
          description="Where the key manager sends users back to (authorization code grant)"
          placeholder="https://app.example.com/callback"
          value={callbackUrl}
          onChange={(e) => setCallbackUrl(e.currentTarget.value)}
          required={needsCallback}
          type="url"
        />
        {generate.isError && <ErrorNotice error={generate.error} title="Keys were not generated" />}
        <Group>
          <Button type="submit" loading={generate.isPending} disabled={grants.length === 0}>
            Generate keys
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** Consumer key and secret; the secret is shown only when just made (the key manager keeps it hashed). */
export function ConsumerCredentials({
  applicationId,
  appKey,
  secret,
  onSecret,
}: {
  applicationId: string;
  appKey: ApplicationKey;
  secret: string | undefined;
  onSecret: (keyMappingId: string, secret: string) => void;
}) {
  const api = useDevportal();
  const [asking, setAsking] = useState(false);
  const keyMappingId = appKey.keyMappingId ?? '';
  const regenerate = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications/{applicationId}/oauth-keys/{keyMappingId}/regenerate-secret', {
          params: { path: { applicationId, keyMappingId } },
        }),
      ),
    onSuccess: (r) => {
      if (r.consumerSecret) onSecret(keyMappingId, r.consumerSecret);
      setAsking(false);
    },
  });
  return (
    <Stack>
      <CopyField label="Consumer key" value={appKey.consumerKey ?? ''} />
      {secret ? (
        <CopyField label="Consumer secret" value={secret} description="Copy it now: the key manager keeps only a hash of it, and this page forgets it on a reload or sign-out." />
      ) : (
        <Text size="sm" c="dimmed">
          The consumer secret is shown once, when it is made. Regenerate it if it is lost.
        </Text>
      )}
      <Group>
        <Button
          variant="default"
          onClick={() => {
            regenerate.reset();
            setAsking(true);
          }}
        >
          Regenerate secret
        </Button>
        <RemoveKeysButton applicationId={applicationId} appKey={appKey} />
      </Group>
      <ConfirmDialog
        opened={asking}
        title="Regenerate consumer secret"
        confirmLabel="Regenerate"
        onConfirm={() => regenerate.mutate()}
        onClose={() => setAsking(false)}
        pending={regenerate.isPending}
        error={regenerate.error ?? undefined}
      >
        The current secret stops working at once; tokens already issued stay valid until they expire.
      </ConfirmDialog>
    </Stack>
  );
}

/** "Remove keys": the OAuth client goes from its key manager and the keys from the application (WSO2's clean-up). */
export function RemoveKeysButton({ applicationId, appKey }: { applicationId: string; appKey: ApplicationKey }) {
  const api = useDevportal();
  const queries = useQueryClient();
  const [asking, setAsking] = useState(false);
  const kind = appKey.keyType === 'SANDBOX' ? 'sandbox' : 'production';
  const remove = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications/{applicationId}/oauth-keys/{keyMappingId}/clean-up', {
          params: { path: { applicationId, keyMappingId: appKey.keyMappingId ?? '' } },
        }),
      ),
    onSuccess: () => {
      setAsking(false);
      void queries.invalidateQueries({ queryKey: queryKeys.oauthKeys(applicationId) });
    },
  });
  return (
    <>
      <Button
        variant="subtle"
        color="red"
        onClick={() => {
          remove.reset();
          setAsking(true);
        }}
      >
        Remove keys
      </Button>
      <ConfirmDialog
        opened={asking}
        title={`Remove ${kind} keys`}
        confirmLabel="Remove"
        onConfirm={() => remove.mutate()}
        onClose={() => setAsking(false)}
        pending={remove.isPending}
        error={remove.error ?? undefined}
      >
        The consumer key {appKey.consumerKey} is deleted at the key manager: its tokens stop working. New keys can be generated afterwards.
      </ConfirmDialog>
    </>
  );
}

/** Grant types and callback URL of keys that exist, changed at their key manager. */
export function KeySettingsForm({ applicationId, appKey, km }: { applicationId: string; appKey: ApplicationKey; km: KeyManager }) {
  const api = useDevportal();
  const queries = useQueryClient();
  const [grants, setGrants] = useState<string[]>(appKey.supportedGrantTypes ?? []);
  const [callbackUrl, setCallbackUrl] = useState(appKey.callbackUrl ?? '');
  const keyMappingId = appKey.keyMappingId ?? '';
  const update = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.PUT('/applications/{applicationId}/oauth-keys/{keyMappingId}', {
          params: { path: { applicationId, keyMappingId } },
          body: { supportedGrantTypes: grants, callbackUrl: callbackUrl.trim() },
        }),
      ),
    onSuccess: () => void queries.invalidateQueries({ queryKey: queryKeys.oauthKeys(applicationId) }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    update.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="Key settings">
      <Stack>
        <GrantTypesField
          km={km}
          value={grants}
          onChange={(v) => {
            update.reset();
            setGrants(v);
          }}
        />
        <TextInput
          label="Callback URL"
          placeholder="https://app.example.com/callback"
          value={callbackUrl}
          onChange={(e) => {
            update.reset();
            setCallbackUrl(e.currentTarget.value);
          }}
          type="url"
        />
        {update.isError && <ErrorNotice error={update.error} title="The keys were not updated" />}
        {update.isSuccess && (
          <Text size="sm" role="status">
            Saved.
          </Text>
        )}
        <Group>
          <Button type="submit" variant="default" loading={update.isPending} disabled={grants.length === 0}>
            Update
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** A client-credentials access token for the keys, with the scopes and validity the user asks for. */
export function AccessTokenForm({ applicationId, appKey, secret }: { applicationId: string; appKey: ApplicationKey; secret: string | undefined }) {
  const api = useDevportal();
  const [consumerSecret, setConsumerSecret] = useState<string>();
  const [scopes, setScopes] = useState<string[]>([]);
  const [validity, setValidity] = useState<number | string>(3600);
  const keyMappingId = appKey.keyMappingId ?? '';
  const typed = consumerSecret ?? secret ?? '';
  const token = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications/{applicationId}/oauth-keys/{keyMappingId}/generate-token', {
          params: { path: { applicationId, keyMappingId } },
          body: {
            consumerSecret: typed,
            scopes,
            validityPeriod: typeof validity === 'number' ? validity : Number(validity) || 3600,
            grantType: 'CLIENT_CREDENTIALS',
          },
        }),
      ),
  });
  if (!appKey.supportedGrantTypes?.includes('client_credentials')) {
    return <Text size="sm">Add the client credentials grant type to generate access tokens here.</Text>;
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (typed) token.mutate();
  };
  const t = token.data;
  return (
    <form onSubmit={submit} aria-label="Generate access token">
      <Stack>
        <PasswordInput
          label="Consumer secret"
          description={secret ? 'The secret shown above' : 'Paste the secret you kept when the keys were made'}
          value={typed}
          onChange={(e) => setConsumerSecret(e.currentTarget.value)}
          required
        />
        <Group grow align="flex-start" wrap="wrap">
          <TagsInput label="Scopes" description="Press Enter after each scope" value={scopes} onChange={setScopes} style={{ minWidth: 200 }} />
          <NumberInput label="Validity period (seconds)" value={validity} onChange={setValidity} min={1} style={{ minWidth: 160 }} />
        </Group>
        {token.isError && <ErrorNotice error={token.error} title="No access token" />}
        <Group>
          <Button type="submit" loading={token.isPending} disabled={!typed}>
            Generate access token
          </Button>
        </Group>
        {t?.accessToken && (
          <Stack gap="xs">
            <CopyField label="Access token" value={t.accessToken} multiline />
            <Text size="sm" c="dimmed">
              Valid for {t.validityTime ?? '?'} seconds
              {t.tokenScopes?.filter(Boolean).length ? `, scopes: ${t.tokenScopes.filter(Boolean).join(' ')}` : ', no scopes'}.
            </Text>
          </Stack>
        )}
      </Stack>
    </form>
  );
}

/** The "Production keys" and "Sandbox keys" tabs: keys at the chosen key manager, made here or managed here. */
export function KeysPanel({
  applicationId,
  keyType,
  secrets,
  onSecret,
}: {
  applicationId: string;
  keyType: KeyType;
  secrets: Record<string, string>;
  onSecret: (keyMappingId: string, secret: string) => void;
}) {
  const kms = useKeyManagers();
  const oauth = useOauthKeys(applicationId);
  const [chosen, setChosen] = useState<string | null>(null);
  if (kms.isPending || oauth.isPending) return <LoadingState label="Loading keys" />;
  if (kms.isError) return <ErrorNotice error={kms.error} title="Cannot list the key managers" />;
  if (oauth.isError) return <ErrorNotice error={oauth.error} title="Cannot load the keys" />;
  const km = kms.data.find((k) => k.name === chosen) ?? kms.data[0];
  if (!km) return <EmptyState title="No key manager is enabled" />;
  const appKey = keysAt(oauth.data, keyType, km);
  const secret = appKey?.keyMappingId ? secrets[appKey.keyMappingId] : undefined;
  return (
    <Stack>
      {kms.data.length > 1 && (
        <Select
          label="Key manager"
          data={kms.data.map((k) => ({ value: k.name, label: k.displayName ?? k.name }))}
          value={km.name}
          onChange={setChosen}
          allowDeselect={false}
          maw={400}
        />
      )}
      {!appKey ? (
        <Card withBorder>
          {km.enableOAuthAppCreation === false ? (
            <Alert color="gray" title="Keys are made elsewhere">
              {km.displayName ?? km.name} does not create OAuth clients from here.
            </Alert>
          ) : (
            <GenerateKeysForm applicationId={applicationId} keyType={keyType} km={km} onSecret={onSecret} />
          )}
        </Card>
      ) : (
        <>
          <Card withBorder>
            <Stack>
              <Title order={3}>Consumer key and secret</Title>
              <ConsumerCredentials applicationId={applicationId} appKey={appKey} secret={secret} onSecret={onSecret} />
              {km.tokenEndpoint && <CopyField label="Token endpoint" value={km.tokenEndpoint} />}
            </Stack>
          </Card>
          <Card withBorder>
            <Stack>
              <Title order={3}>Access token</Title>
              <AccessTokenForm key={appKey.keyMappingId} applicationId={applicationId} appKey={appKey} secret={secret} />
            </Stack>
          </Card>
          <Card withBorder>
            <Stack>
              <Title order={3}>Grant types and callback URL</Title>
              <KeySettingsForm key={appKey.keyMappingId} applicationId={applicationId} appKey={appKey} km={km} />
            </Stack>
          </Card>
        </>
      )}
    </Stack>
  );
}
