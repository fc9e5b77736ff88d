import { Alert, Badge, Button, Code, Group, PasswordInput, Select, Stack, Text, TextInput, Textarea } from '@mantine/core';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice, LoadingState, unwrap, type DevportalComponents } from '@apim/shared';
import { useDevportal } from '../client';
import { queryKeys, useApplications, useOauthKeys } from '../queries';
import { useConsumerSecrets } from '../secrets';

export type TryItApi = DevportalComponents['schemas']['API'];

/** How long a test key lives (WSO2's "GET TEST KEY" asks for an hour). */
const TEST_KEY_SECONDS = 3600;
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** The gateway URLs the browser can call: HTTPS first (a page served over HTTPS may not call HTTP). */
export function gatewayUrls(api: TryItApi): { label: string; url: string }[] {
  const out: { label: string; url: string }[] = [];
  for (const e of api.endpointURLs ?? []) {
    const env = e.environmentDisplayName ?? e.environmentName ?? '';
    if (e.URLs?.https) out.push({ label: `${env} — ${e.URLs.https}`, url: e.URLs.https });
    if (e.URLs?.http && window.location.protocol === 'http:') out.push({ label: `${env} — ${e.URLs.http}`, url: e.URLs.http });
  }
  return out;
}

/** The `{name}` segments of a resource template. */
export function pathParams(target: string): string[] {
  return [...target.matchAll(/\{([^}/]+)\}/g)].map((m) => m[1] ?? '').filter(Boolean);
}

/** The URL a request goes to: the template filled in (each value encoded), then the query. */
export function requestUrl(base: string, target: string, values: Record<string, string>, query: string): string {
  const path = target.replace(/\{([^}/]+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? ''));
  const q = query.trim().replace(/^\?/, '');
  return `${base.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}${q ? `?${q}` : ''}`;
}

interface Answer {
  status: number;
  statusText: string;
  contentType: string;
  body: string;
  millis: number;
}

/** A request through the gateway: an operation of the API, a test key of a subscribed application, and the answer. */
export function TryItConsole({ api: a }: { api: TryItApi }) {
  const api = useDevportal();
  const apiId = a.id ?? '';
  const urls = gatewayUrls(a);
  const operations = (a.operations ?? []).map((o) => `${o.verb ?? 'GET'} ${o.target ?? '/'}`);
  const apps = useApplications(100, 0);
  const subs = useQuery({
    queryKey: queryKeys.subscriptionsOfApi(apiId),
    queryFn: async () => unwrap(await api.GET('/subscriptions', { params: { query: { apiId, limit: 100 } } })).list ?? [],
  });
  const [gateway, setGateway] = useState<string | null>(null);
  const [applicationId, setApplicationId] = useState<string | null>(null);
  const [token, setToken] = useState('');
  const [operation, setOperation] = useState<string | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [query, setQuery] = useState('');
  const [body, setBody] = useState('');
  const base = gateway ?? urls[0]?.url ?? '';
  const chosen = operation ?? operations[0] ?? '';
  const [verb = 'GET', target = '/'] = chosen.split(' ');
  const send = useMutation({
    mutationFn: async (): Promise<Answer> => {
      const started = performance.now();
      const headers: Record<string, string> = {};
      if (token) headers[a.authorizationHeader ?? 'Authorization'] = `Bearer ${token}`;
      const withBody = WITH_BODY.has(verb) && body.trim() !== '';
      if (withBody) headers['Content-Type'] = 'application/json';
      let resp: Response;
      try {
        resp = await fetch(requestUrl(base, target, values, query), { method: verb, headers, body: withBody ? body : undefined });
      } catch (e) {
        throw new Error(
          `The browser could not reach the gateway at ${base} (${e instanceof Error ? e.message : String(e)}). If it uses a certificate your browser does not trust yet, open ${base} once and accept it.`,
        );
      }
      const text = await resp.text();
      return {
        status: resp.status,
        statusText: resp.statusText,
        contentType: resp.headers.get('content-type') ?? '',
        body: text,
        millis: Math.round(performance.now() - started),
      };
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send.mutate();
  };
  if (apps.isPending || subs.isPending) return <LoadingState label="Loading your applications" />;
  if (apps.isError) return <ErrorNotice error={apps.error} title="Cannot list your applications" />;
  if (subs.isError) return <ErrorNotice error={subs.error} title="Cannot list your subscriptions" />;
  const names = new Map((apps.data.list ?? []).map((x) => [x.applicationId, x.name]));
  const subscribed = subs.data.map((s) => ({ value: s.applicationId, label: names.get(s.applicationId) ?? s.applicationId }));
  return (
    <form onSubmit={submit} aria-label="Try it">
      <Stack>
        <Select label="Gateway" data={urls.map((u) => ({ value: u.url, label: u.label }))} value={base} onChange={setGateway} allowDeselect={false} />
        {subscribed.length === 0 ? (
          <Text size="sm">Subscribe one of your applications to this API above to get a test key for it.</Text>
        ) : (
          <Select
            label="Application"
            placeholder="A subscribed application"
            data={subscribed}
            value={applicationId}
            onChange={(v) => {
              setApplicationId(v);
              setToken('');
            }}
          />
        )}
        {applicationId && <TestKey applicationId={applicationId} scopes={(a.scopes ?? []).map((s) => s.key ?? '').filter(Boolean)} onToken={setToken} />}
        <PasswordInput label="Access token" description="Sent as a bearer token" value={token} onChange={(e) => setToken(e.currentTarget.value)} />
        <Select label="Operation" data={operations} value={chosen} onChange={setOperation} allowDeselect={false} />
        {pathParams(target).map((p) => (
          <TextInput key={p} label={p} required value={values[p] ?? ''} onChange={(e) => setValues({ ...values, [p]: e.currentTarget.value })} />
        ))}
        <TextInput label="Query string" placeholder="name=value&other=value" value={query} onChange={(e) => setQuery(e.currentTarget.value)} />
        {WITH_BODY.has(verb) && (
          <Textarea label="Body (JSON)" autosize minRows={3} value={body} onChange={(e) => setBody(e.currentTarget.value)} />
        )}
        <Group>
          <Button type="submit" loading={send.isPending} disabled={!base}>
            Send
          </Button>
          <Code>{`${verb} ${requestUrl(base, target, values, query)}`}</Code>
        </Group>
        {send.isError && (
          <Alert color="red" title="No answer">
            {send.error.message}
          </Alert>
        )}
        {send.data && <AnswerView answer={send.data} />}
      </Stack>
    </form>
  );
}

/** "Get test key": a token of the application's production keys, with the API's scopes, for an hour. */
function TestKey({ applicationId, scopes, onToken }: { applicationId: string; scopes: string[]; onToken: (t: string) => void }) {
  const api = useDevportal();
  const keys = useOauthKeys(applicationId);
  const [secrets] = useConsumerSecrets();
  const [typed, setTyped] = useState('');
  const production = (keys.data ?? []).find((k) => k.keyType === 'PRODUCTION');
  const keyMappingId = production?.keyMappingId ?? '';
  const secret = secrets[keyMappingId] ?? typed;
  const make = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications/{applicationId}/oauth-keys/{keyMappingId}/generate-token', {
          params: { path: { applicationId, keyMappingId } },
          body: { consumerSecret: secret, validityPeriod: TEST_KEY_SECONDS, scopes, grantType: 'CLIENT_CREDENTIALS' },
        }),
      ),
    onSuccess: (t) => onToken(t.accessToken ?? ''),
  });
  if (keys.isPending) return <LoadingState label="Loading the application's keys" />;
  if (keys.isError) return <ErrorNotice error={keys.error} title="Cannot read the application's keys" />;
  if (!production) return <Text size="sm">This application has no production keys yet: generate them on its page first.</Text>;
  return (
    <Stack gap="xs">
      {!secrets[keyMappingId] && (
        <PasswordInput
          label="Consumer secret"
          description="Secrets are shown once, when made: paste it (the portal keeps it in this page only)"
          value={typed}
          onChange={(e) => setTyped(e.currentTarget.value)}
        />
      )}
      <Group>
        <Button variant="light" onClick={() => make.mutate()} loading={make.isPending} disabled={!secret}>
          Get test key
        </Button>
        {make.isSuccess && <Badge color="teal.9">Valid for an hour</Badge>}
      </Group>
      {make.isError && <ErrorNotice error={make.error} title="No test key" />}
    </Stack>
  );
}

/** The gateway's answer: status, time, and the body (JSON indented). */
function AnswerView({ answer }: { answer: Answer }) {
  let shown = answer.body;
  if (answer.contentType.includes('json')) {
    try {
      shown = JSON.stringify(JSON.parse(answer.body), null, 2);
    } catch {
      // Not JSON after all: shown as it came.
    }
  }
  return (
    <Stack gap="xs" aria-label="Answer" role="region">
      <Group>
        <Badge color={answer.status < 400 ? 'teal.9' : 'red.9'} aria-label="Status">
          {answer.status} {answer.statusText}
        </Badge>
        <Text size="sm" c="dimmed">
          {answer.millis} ms · {answer.contentType || 'no content type'}
        </Text>
      </Group>
      <Code block aria-label="Response body">
        {shown || '(empty body)'}
      </Code>
    </Stack>
  );
}
