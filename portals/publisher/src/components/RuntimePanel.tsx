import { Card, Checkbox, Group, MultiSelect, NumberInput, Stack, Switch, TagsInput, Text, TextInput, Title } from '@mantine/core';
import type { FormEvent, ReactNode } from 'react';
import { useDraft, useHasScope, type PublisherComponents } from '@apim/shared';
import type { Api } from '../client';
import { useApiEditor, type ApiRead } from '../queries';
import { KeptInputNotice, SaveFooter } from './SaveError';

type Cors = PublisherComponents['schemas']['APICorsConfiguration'];

/** What the tab edits: how the gateway takes the API's calls. */
export interface RuntimeForm {
  transports: string[];
  oauth2: boolean;
  apiKey: boolean;
  authorizationHeader: string;
  apiKeyHeader: string;
  schemaValidation: boolean;
  cors: Cors;
  /** Requests per second the backend takes, per node; empty: no limit. */
  productionTps: number | '';
  sandboxTps: number | '';
}

const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

export function runtimeOf(api: Api): RuntimeForm {
  const schemes = api.securityScheme ?? ['oauth2'];
  return {
    transports: api.transport ?? ['http', 'https'],
    oauth2: schemes.length === 0 || schemes.includes('oauth2'),
    apiKey: schemes.includes('api_key'),
    authorizationHeader: api.authorizationHeader ?? 'Authorization',
    apiKeyHeader: api.apiKeyHeader ?? 'ApiKey',
    schemaValidation: api.enableSchemaValidation ?? false,
    cors: api.corsConfiguration ?? { corsConfigurationEnabled: false, accessControlAllowCredentials: false },
    productionTps: api.maxTps?.production ?? '',
    sandboxTps: api.maxTps?.sandbox ?? '',
  };
}

/** The API's fields from the form; security schemes the form does not show (mutual TLS, basic auth) are kept. */
export function changesOf(api: Api, f: RuntimeForm): Partial<Api> {
  const others = (api.securityScheme ?? []).filter((s) => s !== 'oauth2' && s !== 'api_key');
  const maxTps =
    f.productionTps === '' && f.sandboxTps === ''
      ? undefined
      : {
          ...(api.maxTps ?? { productionTimeUnit: 'SECOND' as const, sandboxTimeUnit: 'SECOND' as const }),
          production: f.productionTps === '' ? undefined : f.productionTps,
          sandbox: f.sandboxTps === '' ? undefined : f.sandboxTps,
        };
  return {
    transport: f.transports,
    securityScheme: [...(f.oauth2 ? ['oauth2'] : []), ...(f.apiKey ? ['api_key'] : []), ...others],
    authorizationHeader: f.authorizationHeader.trim(),
    apiKeyHeader: f.apiKeyHeader.trim(),
    enableSchemaValidation: f.schemaValidation,
    corsConfiguration: f.cors,
    maxTps: maxTps as Api['maxTps'],
  };
}

/** A problem the form can see before the server does, or undefined. */
export function runtimeProblem(f: RuntimeForm): string | undefined {
  if (f.transports.length === 0) return 'Choose at least one transport';
  if (!f.oauth2 && !f.apiKey) return 'Choose OAuth2, API keys or both (an operation can still be opened on the Resources tab)';
  return undefined;
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Card withBorder>
      <Stack gap="sm">
        <Title order={3} size="h4">
          {title}
        </Title>
        {children}
      </Stack>
    </Card>
  );
}

/**
 * The "Runtime" tab, as WSO2's runtime configuration: transports, application security and its headers, request
 * validation against the OpenAPI document, CORS, and the backend's rate limit. Input is kept across an expired
 * session; saved with the API (`PUT`, `If-Match`).
 */
export function RuntimePanel({ apiId, read }: { apiId: string; read: ApiRead }) {
  const canEdit = useHasScope('apim:api_create');
  const editor = useApiEditor(apiId, read);
  const draft = useDraft(`runtime:${apiId}`, () => runtimeOf(read.api));
  const f = draft.value;
  const set = (change: Partial<RuntimeForm>) => draft.set({ ...f, ...change });
  const setCors = (change: Partial<Cors>) => set({ cors: { ...f.cors, ...change } });
  const problem = runtimeProblem(f);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (problem) return;
    editor.save.mutate(changesOf(editor.base.api, f), { onSuccess: (next) => draft.clear(runtimeOf(next.api)) });
  };
  return (
    <form onSubmit={submit} aria-label="Runtime">
      <Stack>
        {draft.restored && <KeptInputNotice onDiscard={() => draft.clear(runtimeOf(editor.base.api))} />}
        <Section title="Transports">
          <Checkbox.Group value={f.transports} onChange={(transports) => set({ transports })} label="The gateway takes calls over">
            <Group mt={4}>
              <Checkbox value="http" label="HTTP" disabled={!canEdit} />
              <Checkbox value="https" label="HTTPS" disabled={!canEdit} />
            </Group>
          </Checkbox.Group>
        </Section>
        <Section title="Application security">
          <Group>
            <Checkbox label="OAuth2 tokens" checked={f.oauth2} onChange={(e) => set({ oauth2: e.currentTarget.checked })} disabled={!canEdit} />
            <Checkbox label="API keys" checked={f.apiKey} onChange={(e) => set({ apiKey: e.currentTarget.checked })} disabled={!canEdit} />
          </Group>
          <Group grow align="flex-start" wrap="wrap">
            <TextInput label="Authorization header" value={f.authorizationHeader} onChange={(e) => set({ authorizationHeader: e.currentTarget.value })} readOnly={!canEdit} />
            <TextInput label="API key header" value={f.apiKeyHeader} onChange={(e) => set({ apiKeyHeader: e.currentTarget.value })} readOnly={!canEdit} />
          </Group>
          <Switch
            label="Validate request and response bodies against the OpenAPI definition"
            checked={f.schemaValidation}
            onChange={(e) => set({ schemaValidation: e.currentTarget.checked })}
            disabled={!canEdit}
          />
        </Section>
        <Section title="CORS">
          <Switch
            label="Answer browsers' cross-origin requests"
            checked={f.cors.corsConfigurationEnabled}
            onChange={(e) => setCors({ corsConfigurationEnabled: e.currentTarget.checked })}
            disabled={!canEdit}
          />
          {f.cors.corsConfigurationEnabled && (
            <>
              <TagsInput label="Allowed origins" placeholder="https://app.example.com or *" value={f.cors.accessControlAllowOrigins ?? []} onChange={(v) => setCors({ accessControlAllowOrigins: v })} readOnly={!canEdit} />
              <TagsInput label="Allowed headers" value={f.cors.accessControlAllowHeaders ?? []} onChange={(v) => setCors({ accessControlAllowHeaders: v })} readOnly={!canEdit} />
              <MultiSelect label="Allowed methods" data={METHODS} value={f.cors.accessControlAllowMethods ?? []} onChange={(v) => setCors({ accessControlAllowMethods: v })} readOnly={!canEdit} />
              <Switch
                label="Allow credentials"
                checked={f.cors.accessControlAllowCredentials}
                onChange={(e) => setCors({ accessControlAllowCredentials: e.currentTarget.checked })}
                disabled={!canEdit}
              />
            </>
          )}
        </Section>
        <Section title="Backend rate limit">
          <Text size="sm" c="dimmed">
            Requests per second each gateway node sends the backend; beyond it callers get 503 (WSO2's backend throttling). Empty: no limit.
          </Text>
          <Group grow align="flex-start" wrap="wrap">
            <NumberInput label="Production (per second)" min={1} value={f.productionTps} onChange={(v) => set({ productionTps: v === '' ? '' : Number(v) })} readOnly={!canEdit} />
            <NumberInput label="Sandbox (per second)" min={1} value={f.sandboxTps} onChange={(v) => set({ sandboxTps: v === '' ? '' : Number(v) })} readOnly={!canEdit} />
          </Group>
        </Section>
        {problem && (
          <Text size="sm" c="red.8" role="alert">
            {problem}
          </Text>
        )}
        <SaveFooter editor={editor} canEdit={canEdit} saved={editor.save.isSuccess && !draft.restored} disabled={problem !== undefined} />
      </Stack>
    </form>
  );
}
