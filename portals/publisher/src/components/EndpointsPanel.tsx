import { Alert, Button, Group, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice, unwrap, useHasScope } from '@apim/shared';
import { usePublisher, type Api } from '../client';
import { useApiEditor, type ApiRead } from '../queries';
import { SaveFooter } from './SaveError';

interface Endpoint {
  url?: string;
  [k: string]: unknown;
}
interface EndpointConfig {
  endpoint_type?: string;
  production_endpoints?: Endpoint | Endpoint[];
  sandbox_endpoints?: Endpoint | Endpoint[];
  [k: string]: unknown;
}

const urlOf = (e: Endpoint | Endpoint[] | undefined) => (Array.isArray(e) ? e[0]?.url : e?.url) ?? '';

/**
 * The config with new production and sandbox URLs of an `http` endpoint; each endpoint's other settings
 * (timeouts, retries) and every other key stay as they were; an empty URL removes that endpoint.
 */
export function withUrls(old: EndpointConfig | undefined, production: string, sandbox: string): EndpointConfig {
  const next: EndpointConfig = { ...(old ?? {}), endpoint_type: 'http' };
  const one = (kind: 'production_endpoints' | 'sandbox_endpoints', url: string) => {
    const prev = old?.[kind];
    if (url) next[kind] = { ...(prev && !Array.isArray(prev) ? prev : {}), url };
    else delete next[kind];
  };
  one('production_endpoints', production);
  one('sandbox_endpoints', sandbox);
  return next;
}

/** A URL field with "Test": the control plane calls the URL (`POST /apis/validate-endpoint`) and says what answered. */
function EndpointField({ apiId, label, value, onChange, readOnly }: { apiId: string; label: string; value: string; onChange: (v: string) => void; readOnly: boolean }) {
  const api = usePublisher();
  const test = useMutation({
    mutationFn: async (endpointUrl: string) =>
      unwrap(await api.POST('/apis/validate-endpoint', { params: { query: { endpointUrl, apiId } } })),
  });
  const r = test.data;
  const reached = r && !r.error && r.statusCode > 0;
  return (
    <Stack gap={4}>
      <Group align="flex-end" wrap="nowrap">
        <TextInput
          label={label}
          type="url"
          placeholder="https://backend.example.com/api"
          value={value}
          onChange={(e) => {
            onChange(e.currentTarget.value);
            test.reset();
          }}
          readOnly={readOnly}
          style={{ flex: 1 }}
        />
        <Button variant="default" onClick={() => test.mutate(value.trim())} disabled={!value.trim()} loading={test.isPending} aria-label={`Test ${label.toLowerCase()}`}>
          Test
        </Button>
      </Group>
      {r && (
        <Text size="sm" role="status">
          {reached ? `✓ Reachable: ${r.statusCode} ${r.statusMessage}` : `✗ Not reachable: ${r.statusMessage}${r.error ? ` (${r.error})` : ''}`}
        </Text>
      )}
      {test.isError && <ErrorNotice error={test.error} title="Not tested" />}
    </Stack>
  );
}

/** The "Endpoints" tab: the production and sandbox URLs of an `http` endpoint, each tested before it is saved. */
export function EndpointsPanel({ apiId, read }: { apiId: string; read: ApiRead }) {
  const canEdit = useHasScope('apim:api_create');
  const editor = useApiEditor(apiId, read);
  const config = read.api.endpointConfig as EndpointConfig | undefined;
  const [production, setProduction] = useState(urlOf(config?.production_endpoints));
  const [sandbox, setSandbox] = useState(urlOf(config?.sandbox_endpoints));
  const [initial, setInitial] = useState(() => ({ production: urlOf(config?.production_endpoints), sandbox: urlOf(config?.sandbox_endpoints) }));
  const type = config?.endpoint_type ?? 'http';
  const implementation = read.api.endpointImplementationType;
  if (implementation === 'MOCKED_OAS' || implementation === 'INLINE') {
    return (
      <Alert title="Answered by the gateway">
        This API is a prototype: the gateway answers each operation from the examples of its OpenAPI definition, after checking the caller as
        for any API, and calls no backend.
      </Alert>
    );
  }
  if (type !== 'http') {
    return (
      <Alert title={`This API's endpoint is of type ${type}`}>
        This page edits a single HTTP endpoint only; load-balanced, failover and other endpoint types are set through the REST API or apictl for
        now.
      </Alert>
    );
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // A URL the user left alone keeps the value of the API as last read (after a 412, another's change).
    const current = editor.base.api.endpointConfig as EndpointConfig | undefined;
    const p = production.trim() !== initial.production ? production.trim() : urlOf(current?.production_endpoints);
    const s = sandbox.trim() !== initial.sandbox ? sandbox.trim() : urlOf(current?.sandbox_endpoints);
    editor.save.mutate(
      { endpointConfig: withUrls(current, p, s) as unknown as Api['endpointConfig'] },
      { onSuccess: () => setInitial({ production: p, sandbox: s }) },
    );
  };
  return (
    <form onSubmit={submit} aria-label="Endpoints">
      <Stack>
        <Text size="sm" c="dimmed">
          The gateway sends production calls to the production endpoint, and calls made with sandbox keys to the sandbox endpoint.
          A change reaches the gateways with the next deployed revision.
        </Text>
        <EndpointField apiId={apiId} label="Production endpoint" value={production} onChange={setProduction} readOnly={!canEdit} />
        <EndpointField apiId={apiId} label="Sandbox endpoint" value={sandbox} onChange={setSandbox} readOnly={!canEdit} />
        <SaveFooter editor={editor} canEdit={canEdit} />
      </Stack>
    </form>
  );
}
