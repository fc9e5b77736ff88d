import { Button, Group, Select, Stack, Switch, Table, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice, ListStates, unwrap, type AdminComponents } from '@apim/shared';
import { DeleteButton, useAskBeforeDelete } from '../components/AskBeforeDelete';
import { ReadOnlyBadge } from '../components/ReadOnlyBadge';
import { useAdmin } from '../client';

type KeyManager = AdminComponents['schemas']['KeyManager'] & { id?: string; isReadOnly?: boolean };

const TYPES = ['WSO2-IS', 'Keycloak', 'Okta', 'Auth0', 'PingFederate', 'ForgeRock', 'Azure AD', 'custom'];

/** The fields a person fills in (or discovery fills for them). */
interface KeyManagerInput {
  name: string;
  type: string;
  wellKnownEndpoint: string;
  issuer: string;
  tokenEndpoint: string;
  revokeEndpoint: string;
  introspectionEndpoint: string;
  jwks: string;
}

const EMPTY: KeyManagerInput = { name: '', type: 'WSO2-IS', wellKnownEndpoint: '', issuer: '', tokenEndpoint: '', revokeEndpoint: '', introspectionEndpoint: '', jwks: '' };

/** The Admin API's key manager from the form: what is blank is left out, the flags WSO2 requires at their defaults. */
export function keyManagerOf(i: KeyManagerInput): KeyManager {
  const opt = (v: string) => (v.trim() ? v.trim() : undefined);
  return {
    name: i.name.trim(),
    type: i.type,
    wellKnownEndpoint: opt(i.wellKnownEndpoint),
    issuer: i.issuer.trim(),
    tokenEndpoint: opt(i.tokenEndpoint),
    revokeEndpoint: opt(i.revokeEndpoint),
    introspectionEndpoint: opt(i.introspectionEndpoint),
    certificates: opt(i.jwks) ? { type: 'JWKS', value: i.jwks.trim() } : undefined,
    enabled: true,
    enableTokenGeneration: true,
    enableTokenEncryption: false,
    enableTokenHashing: false,
    enableMapOAuthConsumerApps: true,
    enableOAuthAppCreation: true,
    enableSelfValidationJWT: true,
    tokenType: 'DIRECT',
  };
}

/** "Add key manager": from an OpenID Connect discovery URL (read by the control plane), or typed in. */
function AddKeyManagerForm({ onAdded }: { onAdded: () => Promise<unknown> }) {
  const api = useAdmin();
  const [input, setInput] = useState<KeyManagerInput>(EMPTY);
  const field = (k: keyof KeyManagerInput) => ({
    value: input[k],
    onChange: (e: { currentTarget: { value: string } }) => setInput({ ...input, [k]: e.currentTarget.value }),
  });
  const discover = useMutation({
    mutationFn: async () => {
      const form = new FormData();
      form.set('url', input.wellKnownEndpoint.trim());
      form.set('type', input.type);
      return unwrap(await api.POST('/key-managers/discover', { body: {} as never, bodySerializer: () => form }));
    },
    onSuccess: (r) => {
      const v = r.value;
      if (!v) return;
      setInput((i) => ({
        ...i,
        issuer: v.issuer ?? i.issuer,
        tokenEndpoint: v.tokenEndpoint ?? i.tokenEndpoint,
        revokeEndpoint: v.revokeEndpoint ?? i.revokeEndpoint,
        introspectionEndpoint: v.introspectionEndpoint ?? i.introspectionEndpoint,
        jwks: v.certificates?.type === 'JWKS' ? (v.certificates.value ?? i.jwks) : i.jwks,
      }));
    },
  });
  const add = useMutation({
    mutationFn: async () => unwrap(await api.POST('/key-managers', { body: keyManagerOf(input) })),
    onSuccess: async () => {
      setInput(EMPTY);
      discover.reset();
      await onAdded();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="Add key manager">
      <Stack>
        <Group align="flex-start" grow wrap="wrap">
          <TextInput label="Name" required {...field('name')} />
          <Select label="Type" data={TYPES} value={input.type} onChange={(v) => v && setInput({ ...input, type: v })} allowDeselect={false} />
        </Group>
        <Group align="flex-end" wrap="nowrap">
          <TextInput label="Discovery URL" placeholder="https://idp.example.com/.well-known/openid-configuration" style={{ flex: 1 }} {...field('wellKnownEndpoint')} />
          <Button variant="default" onClick={() => discover.mutate()} disabled={!input.wellKnownEndpoint.trim()} loading={discover.isPending}>
            Read discovery document
          </Button>
        </Group>
        {discover.isError && <ErrorNotice error={discover.error} title="The discovery document was not read" />}
        {discover.data && !discover.data.valid && <ErrorNotice error={new Error('The document names no issuer')} title="Not a usable discovery document" />}
        <Group align="flex-start" grow wrap="wrap">
          <TextInput label="Issuer" required {...field('issuer')} />
          <TextInput label="Token endpoint" {...field('tokenEndpoint')} />
          <TextInput label="Revoke endpoint" {...field('revokeEndpoint')} />
        </Group>
        <Group align="flex-start" grow wrap="wrap">
          <TextInput label="Introspection endpoint" {...field('introspectionEndpoint')} />
          <TextInput label="JWKS URL" description="Gateways check the key manager's JWTs with these keys" {...field('jwks')} />
        </Group>
        {add.isError && <ErrorNotice error={add.error} title="The key manager was not added" />}
        <Group>
          <Button type="submit" loading={add.isPending}>
            Add key manager
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** `/key-managers`: the resident key manager and the OAuth2 servers whose tokens the gateways also take. */
export function KeyManagersPage() {
  const api = useAdmin();
  const queries = useQueryClient();
  const list = useQuery({ queryKey: ['key-managers'], queryFn: async () => (unwrap(await api.GET('/key-managers')).list ?? []) as KeyManager[] });
  const refresh = () => queries.invalidateQueries({ queryKey: ['key-managers'] });
  const toggle = useMutation({
    mutationFn: async (km: KeyManager) =>
      unwrap(await api.PUT('/key-managers/{keyManagerId}', { params: { path: { keyManagerId: km.id ?? '' } }, body: { ...km, enabled: !km.enabled } })),
    onSuccess: refresh,
  });
  const deletion = useAskBeforeDelete<KeyManager>({
    title: 'Delete key manager',
    question: (k) => `Delete the key manager ${k.name}? Tokens it issues are no longer accepted.`,
    remove: async (k) => unwrap(await api.DELETE('/key-managers/{keyManagerId}', { params: { path: { keyManagerId: k.id ?? '' } } })),
    onDeleted: refresh,
  });
  return (
    <Stack>
      <Title order={2}>Key managers</Title>
      <AddKeyManagerForm onAdded={refresh} />
      {toggle.isError && <ErrorNotice error={toggle.error} title="Not changed" />}
      <ListStates query={list} loading="Loading key managers" failed="Cannot list key managers" empty="No key managers">
        {(items) => (
          <Table.ScrollContainer minWidth={560}>
            <Table striped aria-label="Key managers">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Type</Table.Th>
                  <Table.Th>Issuer</Table.Th>
                  <Table.Th>Enabled</Table.Th>
                  <Table.Th>
                    <VisuallyHidden>Actions</VisuallyHidden>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((k) => (
                  <Table.Tr key={k.id ?? k.name}>
                    <Table.Td>
                      {k.name}{' '}
                      {k.isReadOnly && <ReadOnlyBadge label="resident" />}
                    </Table.Td>
                    <Table.Td>{k.type}</Table.Td>
                    <Table.Td>{k.issuer ?? '—'}</Table.Td>
                    <Table.Td>
                      <Switch
                        checked={k.enabled ?? false}
                        disabled={k.isReadOnly || toggle.isPending}
                        aria-label={`Enable ${k.name}`}
                        onChange={() => toggle.mutate(k)}
                      />
                    </Table.Td>
                    <Table.Td>{!k.isReadOnly && <DeleteButton label={`Delete key manager ${k.name}`} onClick={() => deletion.ask(k)} />}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </ListStates>
      {deletion.dialog}
    </Stack>
  );
}
