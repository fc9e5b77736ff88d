import { Badge, Button, Card, Group, MultiSelect, Select, Stack, Switch, Table, TagsInput, Text, TextInput, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { unwrap, useDraft, useHasScope, type PublisherComponents } from '@apim/shared';
import { usePublisher, type Api } from '../client';
import { useApiEditor, type ApiRead } from '../queries';
import { KeptInputNotice, SaveFooter } from './SaveError';

type Operation = PublisherComponents['schemas']['APIOperations'];
type ApiScope = PublisherComponents['schemas']['APIScope'];

/** WSO2's value for a secured operation; `None` opens it to calls without a token or key. */
const SECURED = 'Application & Application User';
const SCOPE_NAME = /^[A-Za-z0-9:_.-]+$/;

/** What the tab edits: the operations' security, scopes and rate limits, and the scopes the API defines. */
export interface ResourcesForm {
  operations: Operation[];
  scopes: ApiScope[];
}

export function formOf(api: Pick<Api, 'operations' | 'scopes'>): ResourcesForm {
  return { operations: api.operations ?? [], scopes: api.scopes ?? [] };
}

/** The form's operation `i` with `change` applied; the others as they were. */
export function withOperation(form: ResourcesForm, i: number, change: Partial<Operation>): ResourcesForm {
  return { ...form, operations: form.operations.map((o, k) => (k === i ? { ...o, ...change } : o)) };
}

/** A problem with a new scope's name, or undefined when it can be added. */
export function scopeNameProblem(form: ResourcesForm, name: string): string | undefined {
  if (!name) return 'Give the scope a name';
  if (!SCOPE_NAME.test(name)) return 'Letters, digits and : _ . - only';
  if (form.scopes.some((s) => s.scope.name === name)) return `The API already defines ${name}`;
  return undefined;
}

/** "Scopes": the API's own scopes (a name, what it is for, the roles that may be granted it), added or removed. */
function ScopesCard({ form, onChange, readOnly }: { form: ResourcesForm; onChange: (f: ResourcesForm) => void; readOnly: boolean }) {
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [roles, setRoles] = useState<string[]>([]);
  const [tried, setTried] = useState(false);
  const problem = scopeNameProblem(form, name.trim());
  const add = () => {
    setTried(true);
    if (problem) return;
    const scope = { name: name.trim(), displayName: displayName.trim() || name.trim(), description: '', bindings: roles };
    onChange({ ...form, scopes: [...form.scopes, { scope, shared: false }] });
    setName('');
    setDisplayName('');
    setRoles([]);
    setTried(false);
  };
  const used = (scope: string) => form.operations.some((o) => o.scopes?.includes(scope));
  return (
    <Card withBorder>
      <Stack>
        <Title order={3} size="h4">
          Scopes
        </Title>
        {form.scopes.length === 0 ? (
          <Text size="sm" c="dimmed">
            The API defines no scopes. A scope limits an operation to tokens granted it.
          </Text>
        ) : (
          <Table.ScrollContainer minWidth={420}>
          <Table aria-label="Scopes">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Display name</Table.Th>
                <Table.Th>Roles</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {form.scopes.map((s) => (
                <Table.Tr key={s.scope.name}>
                  <Table.Td>
                    <Text ff="monospace" size="sm">
                      {s.scope.name}
                    </Text>
                  </Table.Td>
                  <Table.Td>{s.scope.displayName}</Table.Td>
                  <Table.Td>{(s.scope.bindings ?? []).join(', ') || '—'}</Table.Td>
                  <Table.Td>
                    {!readOnly && (
                      <Button
                        variant="subtle"
                        color="red"
                        size="xs"
                        disabled={used(s.scope.name)}
                        title={used(s.scope.name) ? 'An operation uses it' : undefined}
                        onClick={() => onChange({ ...form, scopes: form.scopes.filter((x) => x.scope.name !== s.scope.name) })}
                      >
                        Remove {s.scope.name}
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          </Table.ScrollContainer>
        )}
        {!readOnly && (
          <Group align="flex-end" wrap="wrap">
            <TextInput
              label="New scope"
              placeholder="order:write"
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              error={tried ? problem : undefined}
            />
            <TextInput label="Display name" value={displayName} onChange={(e) => setDisplayName(e.currentTarget.value)} />
            <TagsInput label="Roles" placeholder="Internal/subscriber" value={roles} onChange={setRoles} />
            <Button variant="default" onClick={add}>
              Add scope
            </Button>
          </Group>
        )}
      </Stack>
    </Card>
  );
}

/** One operation's row: security on or off, its scopes, its rate limit. */
function OperationRow({
  op,
  scopeNames,
  limits,
  onChange,
  readOnly,
}: {
  op: Operation;
  scopeNames: string[];
  limits: string[];
  onChange: (c: Partial<Operation>) => void;
  readOnly: boolean;
}) {
  const label = `${op.verb ?? ''} ${op.target ?? ''}`;
  const secured = op.authType !== 'None';
  return (
    <Table.Tr>
      <Table.Td>
        <Group gap="xs" wrap="nowrap">
          <Badge variant="light" w={70}>
            {op.verb}
          </Badge>
          <Text ff="monospace" size="sm">
            {op.target}
          </Text>
        </Group>
      </Table.Td>
      <Table.Td>
        <Switch
          checked={secured}
          disabled={readOnly}
          aria-label={`Security of ${label}`}
          label={secured ? 'Secured' : 'Open'}
          onChange={(e) => onChange({ authType: e.currentTarget.checked ? SECURED : 'None' })}
        />
      </Table.Td>
      <Table.Td miw={200}>
        <MultiSelect
          aria-label={`Scopes of ${label}`}
          data={scopeNames}
          value={op.scopes ?? []}
          onChange={(scopes) => onChange({ scopes })}
          disabled={!secured}
          readOnly={readOnly}
          placeholder={(op.scopes?.length ?? 0) > 0 ? undefined : scopeNames.length ? 'Any token' : 'No scopes defined'}
          searchable
        />
      </Table.Td>
      <Table.Td miw={150}>
        <Select
          aria-label={`Rate limit of ${label}`}
          data={limits.includes(op.throttlingPolicy ?? 'Unlimited') ? limits : [...limits, op.throttlingPolicy ?? 'Unlimited']}
          value={op.throttlingPolicy ?? 'Unlimited'}
          onChange={(v) => v && onChange({ throttlingPolicy: v })}
          readOnly={readOnly}
          allowDeselect={false}
        />
      </Table.Td>
    </Table.Tr>
  );
}

/**
 * The "Resources" tab: each operation's security, scopes and rate limit (an API-level advanced policy), and the
 * API's scopes. Input is kept across an expired session (`useDraft`) and saved with the API (`PUT`, `If-Match`).
 */
export function ResourcesPanel({ apiId, read }: { apiId: string; read: ApiRead }) {
  const canEdit = useHasScope('apim:api_create');
  const editor = useApiEditor(apiId, read);
  const api = usePublisher();
  const draft = useDraft(`resources:${apiId}`, () => formOf(read.api));
  const limits = useQuery({
    queryKey: ['throttling-policies', 'api'],
    queryFn: async () =>
      (unwrap(await api.GET('/throttling-policies/{policyLevel}', { params: { path: { policyLevel: 'api' } } })).list ?? []).map((p) => p.name),
    staleTime: 60_000,
  });
  const form = draft.value;
  const scopeNames = form.scopes.map((s) => s.scope.name);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    editor.save.mutate({ operations: form.operations, scopes: form.scopes }, { onSuccess: (next) => draft.clear(formOf(next.api)) });
  };
  return (
    <form onSubmit={submit} aria-label="Resources">
      <Stack>
        {draft.restored && <KeptInputNotice onDiscard={() => draft.clear(formOf(editor.base.api))} />}
        <ScopesCard form={form} onChange={draft.set} readOnly={!canEdit} />
        {form.operations.length === 0 && (
          <Text size="sm" c="dimmed">
            This API has no operations yet: they come from its OpenAPI definition.
          </Text>
        )}
        <Table.ScrollContainer minWidth={640}>
          <Table striped aria-label="Operations" hidden={form.operations.length === 0}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Operation</Table.Th>
                <Table.Th>Security</Table.Th>
                <Table.Th>Scopes</Table.Th>
                <Table.Th>Rate limit</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {form.operations.map((op, i) => (
                <OperationRow
                  key={`${op.verb ?? ''} ${op.target ?? ''}`}
                  op={op}
                  scopeNames={scopeNames}
                  limits={limits.data ?? ['Unlimited']}
                  onChange={(c) => draft.set(withOperation(form, i, c))}
                  readOnly={!canEdit}
                />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
        <SaveFooter editor={editor} canEdit={canEdit} saved={editor.save.isSuccess && !draft.restored} />
      </Stack>
    </form>
  );
}
