import { Badge, Button, Card, Checkbox, Group, Modal, Select, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ConfirmDialog, EmptyState, ErrorNotice, LoadingState, unwrap, useHasScope } from '@apim/shared';
import { usePublisher } from '../client';
import { queryKeys, useDeployments, useRevisions, useSettings, when, type Deployment, type Revision } from '../queries';
import { RevisionDiff } from './RevisionDiff';

const label = (r: Revision | undefined) => r?.displayName ?? 'the revision';

/** "Create revision": a snapshot of the API as it is now, which is what gateways run once it is deployed. */
function CreateRevisionForm({ apiId, onDone }: { apiId: string; onDone: () => void }) {
  const api = usePublisher();
  const [description, setDescription] = useState('');
  const create = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/apis/{apiId}/revisions', { params: { path: { apiId } }, body: { description: description.trim() } })),
    onSuccess: () => {
      setDescription('');
      onDone();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="Create revision">
      <Stack gap="xs">
        <Group align="flex-end">
          <TextInput
            label="Description"
            description="What changed since the last revision"
            value={description}
            onChange={(e) => setDescription(e.currentTarget.value)}
            maxLength={255}
            style={{ flex: 1, minWidth: 200 }}
          />
          <Button type="submit" loading={create.isPending}>
            Create revision
          </Button>
        </Group>
        {create.isError && <ErrorNotice error={create.error} title="The revision was not created" />}
      </Stack>
    </form>
  );
}

/** Deploy a revision to one gateway environment and virtual host (replacing what that environment ran). */
function DeployDialog({ apiId, revision, onClose, onDone }: { apiId: string; revision?: Revision; onClose: () => void; onDone: () => void }) {
  const api = usePublisher();
  const settings = useSettings();
  const envs = settings.data?.environment ?? [];
  const [envName, setEnvName] = useState<string | null>(null);
  const [vhost, setVhost] = useState<string | null>(null);
  const [shown, setShown] = useState(true);
  const env = envs.find((e) => e.name === envName) ?? envs.find((e) => e.name === 'Default') ?? envs[0];
  const hosts = (env?.vhosts ?? []).flatMap((v) => (v.host ? [v.host] : []));
  const host = vhost && hosts.includes(vhost) ? vhost : (hosts[0] ?? null);
  const deploy = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/apis/{apiId}/deploy-revision', {
          params: { path: { apiId }, query: { revisionId: revision?.id ?? '' } },
          body: [{ name: env?.name ?? '', vhost: host ?? undefined, displayOnDevportal: shown, status: 'CREATED' }],
        }),
      ),
    onSuccess: () => {
      onDone();
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    deploy.mutate();
  };
  return (
    <Modal opened={revision !== undefined} onClose={onClose} title={`Deploy ${label(revision)}`} centered closeButtonProps={{ 'aria-label': 'Close' }}>
      <form onSubmit={submit} aria-label={`Deploy ${label(revision)}`}>
        <Stack>
          <Select
            label="Gateway environment"
            data={envs.map((e) => ({ value: e.name, label: e.displayName && e.displayName !== e.name ? `${e.displayName} (${e.name})` : e.name }))}
            value={env?.name ?? null}
            onChange={setEnvName}
            allowDeselect={false}
            disabled={settings.isPending}
            required
          />
          <Select label="Virtual host" data={hosts} value={host} onChange={setVhost} allowDeselect={false} disabled={!hosts.length} />
          <Checkbox label="Show the gateway URL in the Developer Portal" checked={shown} onChange={(e) => setShown(e.currentTarget.checked)} />
          <Text size="sm" c="dimmed">
            A revision already deployed to this environment is replaced by this one.
          </Text>
          {settings.isError && <ErrorNotice error={settings.error} title="Cannot list the gateway environments" />}
          {deploy.isError && <ErrorNotice error={deploy.error} title="Not deployed" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={deploy.isPending} disabled={!env}>
              Deploy
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

type Asking = { kind: 'undeploy'; revision: Revision; deployment: Deployment } | { kind: 'restore' | 'delete'; revision: Revision };

/** The "Deployments" tab: the API's revisions, where each is deployed (and which gateway nodes run it), and the actions on them. */
export function DeploymentsPanel({ apiId }: { apiId: string }) {
  const api = usePublisher();
  const queries = useQueryClient();
  const canPublish = useHasScope('apim:api_publish');
  const canCreate = useHasScope('apim:api_create');
  const canDeploy = canPublish || canCreate;
  const revisions = useRevisions(apiId);
  const deployments = useDeployments(apiId);
  const [deploying, setDeploying] = useState<Revision>();
  const [asking, setAsking] = useState<Asking>();
  const refresh = () => void queries.invalidateQueries({ queryKey: queryKeys.api(apiId) });
  const act = useMutation({
    mutationFn: async (a: Asking) => {
      const revisionId = a.revision.id ?? '';
      if (a.kind === 'undeploy') {
        const { name, vhost, displayOnDevportal } = a.deployment;
        return unwrap(
          await api.POST('/apis/{apiId}/undeploy-revision', {
            params: { path: { apiId }, query: { revisionId } },
            body: [{ name: name ?? '', vhost, displayOnDevportal: displayOnDevportal ?? true, status: 'CREATED' }],
          }),
        );
      }
      if (a.kind === 'restore') return unwrap(await api.POST('/apis/{apiId}/restore-revision', { params: { path: { apiId }, query: { revisionId } } }));
      return unwrap(await api.DELETE('/apis/{apiId}/revisions/{revisionId}', { params: { path: { apiId, revisionId } } }));
    },
    onSuccess: () => setAsking(undefined),
    onSettled: refresh,
  });
  const ask = (a: Asking) => {
    act.reset();
    setAsking(a);
  };
  if (revisions.isPending) return <LoadingState label="Loading revisions" />;
  if (revisions.isError) return <ErrorNotice error={revisions.error} title="Cannot list revisions" />;
  const list = revisions.data;
  const nodes = (r: Revision, d: Deployment) =>
    deployments.data?.find((x) => x.revisionUuid === r.id && x.name === d.name)?.gatewayDeployments ?? [];
  return (
    <Stack>
      {canDeploy && (
        <Card withBorder>
          <Stack gap="xs">
            <Title order={3}>New revision</Title>
            <CreateRevisionForm apiId={apiId} onDone={refresh} />
          </Stack>
        </Card>
      )}
      <Title order={3}>Revisions</Title>
      {list.length ? (
        <Table.ScrollContainer minWidth={640}>
          <Table aria-label="Revisions" verticalSpacing="sm">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Revision</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Deployed to</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td>
                    <Text fw={600}>{r.displayName}</Text>
                    {r.description && (
                      <Text size="sm" c="dimmed">
                        {r.description}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>{when(r.createdTime)}</Table.Td>
                  <Table.Td>
                    <Stack gap={4}>
                      {(r.deploymentInfo ?? []).map((d) => (
                        <Group key={d.name} gap="xs" wrap="nowrap">
                          <Badge variant="light" tt="none">
                            {d.name}
                            {d.vhost ? ` · ${d.vhost}` : ''}
                          </Badge>
                          {nodes(r, d).map((n) => (
                            <Text key={n.gatewayId} size="xs" c="dimmed" aria-label={`Gateway ${n.gatewayId}`}>
                              {n.gatewayId}: {n.status === 'DEPLOYED' ? 'running' : 'pending'}
                            </Text>
                          ))}
                          {canDeploy && (
                            <Button
                              size="compact-xs"
                              variant="subtle"
                              color="red"
                              aria-label={`Undeploy ${r.displayName} from ${d.name}`}
                              onClick={() => ask({ kind: 'undeploy', revision: r, deployment: d })}
                            >
                              Undeploy
                            </Button>
                          )}
                        </Group>
                      ))}
                      {!r.deploymentInfo?.length && (
                        <Text size="sm" c="dimmed">
                          Not deployed
                        </Text>
                      )}
                    </Stack>
                  </Table.Td>
                  <Table.Td>
                    {canDeploy && (
                      <Group gap="xs" wrap="nowrap" justify="flex-end">
                        <Button size="xs" aria-label={`Deploy ${r.displayName}`} onClick={() => setDeploying(r)}>
                          Deploy
                        </Button>
                        <Button size="xs" variant="default" aria-label={`Restore ${r.displayName}`} onClick={() => ask({ kind: 'restore', revision: r })}>
                          Restore
                        </Button>
                        <Button size="xs" variant="subtle" color="red" aria-label={`Delete ${r.displayName}`} onClick={() => ask({ kind: 'delete', revision: r })}>
                          Delete
                        </Button>
                      </Group>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : (
        <EmptyState title="No revisions yet">
          <Text size="sm">A revision is what gateways run: create one, then deploy it.</Text>
        </EmptyState>
      )}
      {list.length > 0 && <RevisionDiff apiId={apiId} revisions={list} />}
      {deployments.isError && <ErrorNotice error={deployments.error} title="Cannot read the gateways' state" />}
      <DeployDialog apiId={apiId} revision={deploying} onClose={() => setDeploying(undefined)} onDone={refresh} />
      <ConfirmDialog
        opened={asking !== undefined}
        title={
          asking?.kind === 'undeploy'
            ? `Undeploy ${label(asking.revision)}`
            : asking?.kind === 'restore'
              ? `Restore ${label(asking.revision)}`
              : `Delete ${label(asking?.revision)}`
        }
        confirmLabel={asking?.kind === 'undeploy' ? 'Undeploy' : asking?.kind === 'restore' ? 'Restore' : 'Delete'}
        destructive={asking?.kind !== 'restore'}
        onClose={() => setAsking(undefined)}
        onConfirm={() => asking && act.mutate(asking)}
        pending={act.isPending}
        error={act.error ?? undefined}
      >
        {asking?.kind === 'undeploy' ? (
          <>
            Remove <strong>{label(asking.revision)}</strong> from the <strong>{asking.deployment.name}</strong> gateways? Calls to the API there fail
            from then on.
          </>
        ) : asking?.kind === 'restore' ? (
          <>
            Replace the API's current definition with <strong>{label(asking.revision)}</strong>'s? Changes made since it was created are lost; the
            lifecycle state stays.
          </>
        ) : (
          <>
            Delete <strong>{label(asking?.revision)}</strong>? It cannot be deployed or restored afterwards.
          </>
        )}
      </ConfirmDialog>
    </Stack>
  );
}
