import { Anchor, Badge, Button, Card, Group, Stack, Table, Text, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { ConfirmDialog, EmptyState, ErrorNotice, LoadingState, unwrap, useHasScope } from '@apim/shared';
import { usePublisher } from '../client';
import { queryKeys, type Document } from '../queries';
import { DOC_TYPES, DocumentForm, EMPTY_DOCUMENT, SOURCES, VISIBILITIES, type DocumentFields } from './DocumentForm';

const typeLabel = (d: Document) => (d.type === 'OTHER' && d.otherTypeName ? d.otherTypeName : (DOC_TYPES.find((t) => t.value === d.type)?.label ?? d.type));
const text = (s: Document['sourceType']) => s === 'INLINE' || s === 'MARKDOWN';

/** Adds a document, or saves one being edited: its fields (with the text of an inline or markdown one), then a chosen file. */
function useSaveDocument(apiId: string, documentId: string | undefined) {
  const api = usePublisher();
  const queries = useQueryClient();
  return useMutation({
    mutationFn: async (f: DocumentFields) => {
      const body: Document = {
        name: f.name,
        type: f.type,
        summary: f.summary || undefined,
        sourceType: f.sourceType,
        visibility: f.visibility,
        ...(f.type === 'OTHER' ? { otherTypeName: f.otherTypeName.trim() } : {}),
        ...(f.sourceType === 'URL' ? { sourceUrl: f.sourceUrl } : {}),
        ...(text(f.sourceType) ? { inlineContent: f.content } : {}),
      };
      const saved = documentId
        ? unwrap(await api.PUT('/apis/{apiId}/documents/{documentId}', { params: { path: { apiId, documentId } }, body }))
        : unwrap(await api.POST('/apis/{apiId}/documents', { params: { path: { apiId } }, body }));
      if (f.sourceType === 'FILE' && f.file) {
        const form = new FormData();
        form.set('file', f.file, f.file.name);
        unwrap(
          await api.POST('/apis/{apiId}/documents/{documentId}/content', {
            params: { path: { apiId, documentId: saved.documentId ?? '' } },
            body: {} as never,
            bodySerializer: () => form,
          }),
        );
      }
      return saved;
    },
    onSettled: () => queries.invalidateQueries({ queryKey: queryKeys.documents(apiId) }),
  });
}

function AddDocument({ apiId, onClose }: { apiId: string; onClose: () => void }) {
  const save = useSaveDocument(apiId, undefined);
  return (
    <Card withBorder>
      <Stack>
        <Title order={3}>Add document</Title>
        <DocumentForm
          label="Add document"
          initial={EMPTY_DOCUMENT}
          submitLabel="Add document"
          pending={save.isPending}
          error={save.error ?? undefined}
          onSubmit={(f) => save.mutate(f, { onSuccess: onClose })}
          onCancel={onClose}
        />
      </Stack>
    </Card>
  );
}

/** Edit a document: its fields as read and, for inline or markdown ones, its text (read from its content). */
function EditDocument({ apiId, documentId, onClose }: { apiId: string; documentId: string; onClose: () => void }) {
  const api = usePublisher();
  const save = useSaveDocument(apiId, documentId);
  const doc = useQuery({
    queryKey: [...queryKeys.documents(apiId), documentId],
    queryFn: async () => {
      const d = unwrap(await api.GET('/apis/{apiId}/documents/{documentId}', { params: { path: { apiId, documentId } } }));
      let content = '';
      if (text(d.sourceType)) {
        const r = await api.GET('/apis/{apiId}/documents/{documentId}/content', { params: { path: { apiId, documentId } }, parseAs: 'text' });
        // A document made without text has no content yet: edit it as empty.
        if (r.response.status !== 404) content = unwrap(r) ?? '';
      }
      return { d, content };
    },
    staleTime: 0,
    refetchOnWindowFocus: false,
  });
  if (doc.isPending) return <LoadingState label="Loading the document" />;
  if (doc.isError) return <ErrorNotice error={doc.error} title="Cannot load the document" />;
  const { d, content } = doc.data;
  return (
    <Card withBorder>
      <Stack>
        <Title order={3}>Edit {d.name}</Title>
        <DocumentForm
          label="Edit document"
          initial={{
            name: d.name,
            type: d.type,
            otherTypeName: d.otherTypeName ?? '',
            summary: d.summary ?? '',
            sourceType: d.sourceType,
            sourceUrl: d.sourceUrl ?? '',
            visibility: d.visibility,
            content,
            file: null,
          }}
          fileName={d.fileName}
          submitLabel="Save"
          pending={save.isPending}
          error={save.error ?? undefined}
          onSubmit={(f) => save.mutate(f, { onSuccess: onClose })}
          onCancel={onClose}
        />
      </Stack>
    </Card>
  );
}

/** The "Documents" tab: the API's documents, which the Developer Portal shows beside it; add, edit, delete. */
export function DocumentsPanel({ apiId }: { apiId: string }) {
  const api = usePublisher();
  const queries = useQueryClient();
  const canCreate = useHasScope('apim:api_create');
  const canManageDocs = useHasScope('apim:document_manage');
  const canEdit = canCreate || canManageDocs;
  const [params, setParams] = useSearchParams();
  const adding = params.has('add');
  const editing = params.get('edit') ?? undefined;
  const close = () => setParams({});
  const docs = useQuery({
    queryKey: queryKeys.documents(apiId),
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}/documents', { params: { path: { apiId }, query: { limit: 100 } } })).list ?? [],
  });
  const [deleting, setDeleting] = useState<Document>();
  const remove = useMutation({
    mutationFn: async (documentId: string) =>
      unwrap(await api.DELETE('/apis/{apiId}/documents/{documentId}', { params: { path: { apiId, documentId } } })),
    onSuccess: () => setDeleting(undefined),
    onSettled: () => queries.invalidateQueries({ queryKey: queryKeys.documents(apiId) }),
  });
  if (adding) return <AddDocument apiId={apiId} onClose={close} />;
  if (editing) return <EditDocument key={editing} apiId={apiId} documentId={editing} onClose={close} />;
  if (docs.isPending) return <LoadingState label="Loading documents" />;
  if (docs.isError) return <ErrorNotice error={docs.error} title="Cannot list documents" />;
  const list = docs.data;
  return (
    <Stack>
      {canEdit && (
        <Group>
          <Button onClick={() => setParams({ add: '' })}>Add document</Button>
        </Group>
      )}
      {list.length ? (
        <Table.ScrollContainer minWidth={600}>
          <Table aria-label="Documents" verticalSpacing="sm">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Source</Table.Th>
                <Table.Th>Visibility</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.map((d) => (
                <Table.Tr key={d.documentId}>
                  <Table.Td>
                    <Text fw={600}>{d.name}</Text>
                    {d.summary && (
                      <Text size="sm" c="dimmed" lineClamp={2}>
                        {d.summary}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>{typeLabel(d)}</Table.Td>
                  <Table.Td>
                    {d.sourceType === 'URL' && d.sourceUrl ? (
                      <Anchor href={d.sourceUrl} target="_blank" rel="noreferrer" underline="always">
                        URL
                      </Anchor>
                    ) : d.sourceType === 'FILE' ? (
                      `File${d.fileName ? `: ${d.fileName}` : ''}`
                    ) : (
                      SOURCES.find((s) => s.value === d.sourceType)?.label
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Badge variant="light" tt="none">
                      {VISIBILITIES.find((v) => v.value === d.visibility)?.label ?? d.visibility}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    {canEdit && (
                      <Group gap="xs" wrap="nowrap" justify="flex-end">
                        <Button size="xs" variant="default" aria-label={`Edit ${d.name}`} onClick={() => setParams({ edit: d.documentId ?? '' })}>
                          Edit
                        </Button>
                        <Button
                          size="xs"
                          variant="subtle"
                          color="red"
                          aria-label={`Delete ${d.name}`}
                          onClick={() => {
                            remove.reset();
                            setDeleting(d);
                          }}
                        >
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
        <EmptyState title="No documents yet">
          <Text size="sm">How-tos, samples and forums added here appear beside the API in the Developer Portal.</Text>
        </EmptyState>
      )}
      <ConfirmDialog
        opened={deleting !== undefined}
        title="Delete document"
        confirmLabel="Delete"
        onClose={() => setDeleting(undefined)}
        onConfirm={() => deleting?.documentId && remove.mutate(deleting.documentId)}
        pending={remove.isPending}
        error={remove.error ?? undefined}
      >
        Delete <strong>{deleting?.name}</strong>? The Developer Portal stops showing it at once.
      </ConfirmDialog>
    </Stack>
  );
}

