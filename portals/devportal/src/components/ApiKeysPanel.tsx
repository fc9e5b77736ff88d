import { Button, Group, NumberInput, SegmentedControl, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice, unwrap } from '@apim/shared';
import { useDevportal } from '../client';
import type { KeyType } from '../queries';
import { CopyField } from './CopyField';

/** WSO2's default: an API key that does not expire (`-1`); any positive number is seconds. */
const NEVER = -1;

/** An application's API keys: generate one (shown once: the server keeps no copy), revoke one by its value. */
export function ApiKeysPanel({ applicationId }: { applicationId: string }) {
  const api = useDevportal();
  const [keyType, setKeyType] = useState<KeyType>('PRODUCTION');
  const [validity, setValidity] = useState<number | string>(3600);
  const [revoking, setRevoking] = useState('');
  const generate = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications/{applicationId}/api-keys/{keyType}/generate', {
          params: { path: { applicationId, keyType } },
          body: { validityPeriod: Number(validity) > 0 ? Number(validity) : NEVER },
        }),
      ),
  });
  const revoke = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications/{applicationId}/api-keys/{keyType}/revoke', {
          params: { path: { applicationId, keyType } },
          body: { apikey: revoking.trim() },
        }),
      ),
    onSuccess: () => setRevoking(''),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    generate.mutate();
  };
  const submitRevoke = (e: FormEvent) => {
    e.preventDefault();
    if (revoking.trim()) revoke.mutate();
  };
  return (
    <Stack>
      <Text size="sm">
        An API key calls the APIs this application subscribes to that accept API keys, in the <code>apikey</code> header or query
        parameter. It is shown once: keep it.
      </Text>
      <form onSubmit={submit} aria-label="Generate API key">
        <Stack>
          <SegmentedControl
            aria-label="Key type"
            value={keyType}
            onChange={(v) => setKeyType(v as KeyType)}
            data={[
              { value: 'PRODUCTION', label: 'Production' },
              { value: 'SANDBOX', label: 'Sandbox' },
            ]}
          />
          <NumberInput
            label="Validity period (seconds)"
            description="0 or empty: the key does not expire"
            min={0}
            value={validity}
            onChange={setValidity}
          />
          <Group>
            <Button type="submit" loading={generate.isPending}>
              Generate API key
            </Button>
          </Group>
          {generate.isError && <ErrorNotice error={generate.error} title="No API key" />}
          {generate.data?.apikey && (
            <CopyField
              label="API key"
              value={generate.data.apikey}
              multiline
              description={generate.data.validityTime && generate.data.validityTime > 0 ? `Valid for ${generate.data.validityTime} s` : 'Does not expire'}
            />
          )}
        </Stack>
      </form>
      <form onSubmit={submitRevoke} aria-label="Revoke API key">
        <Stack>
          <TextInput label="API key to revoke" value={revoking} onChange={(e) => setRevoking(e.currentTarget.value)} />
          <Group>
            <Button type="submit" color="red" variant="light" loading={revoke.isPending} disabled={!revoking.trim()}>
              Revoke
            </Button>
            {revoke.isSuccess && <Text size="sm">Revoked: gateways refuse it from now on.</Text>}
          </Group>
          {revoke.isError && <ErrorNotice error={revoke.error} title="Not revoked" />}
        </Stack>
      </form>
    </Stack>
  );
}
