import { Accordion, Anchor, Button, Card, Code, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { ErrorNotice, ListStates, LoadingState, unwrap, type DevportalComponents } from '@apim/shared';
import { useDevportal } from '../client';

type Document = DevportalComponents['schemas']['Document'];

/** The API's documents the visitor may read: inline and markdown ones opened in place, URL ones linked, files downloaded. */
export function DocumentsCard({ apiId }: { apiId: string }) {
  const api = useDevportal();
  const docs = useQuery({
    queryKey: ['api', apiId, 'documents'],
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}/documents', { params: { path: { apiId }, query: { limit: 100 } } })).list ?? [],
  });
  const [open, setOpen] = useState<string | null>(null);
  return (
    <Card withBorder>
      <Stack>
        <Title order={3}>Documents</Title>
        <ListStates query={docs} loading="Loading the documents" failed="Cannot list the documents" empty="No documents">
          {(items) => (
            <Accordion value={open} onChange={setOpen} aria-label="Documents">
              {items.map((d) => (
                <Accordion.Item key={d.documentId} value={d.documentId ?? d.name}>
                  <Accordion.Control>
                    {d.name}
                    {d.summary && (
                      <Text size="sm" c="dimmed">
                        {d.summary}
                      </Text>
                    )}
                  </Accordion.Control>
                  <Accordion.Panel>{open === (d.documentId ?? d.name) && <DocumentBody apiId={apiId} doc={d} />}</Accordion.Panel>
                </Accordion.Item>
              ))}
            </Accordion>
          )}
        </ListStates>
      </Stack>
    </Card>
  );
}

/** One document's content, fetched when opened. Markdown is shown as its text: the portal renders no HTML it did not make. */
function DocumentBody({ apiId, doc }: { apiId: string; doc: Document }) {
  const api = useDevportal();
  const documentId = doc.documentId ?? '';
  const path = { apiId, documentId };
  const inline = doc.sourceType === 'INLINE' || doc.sourceType === 'MARKDOWN';
  const content = useQuery({
    queryKey: ['api', apiId, 'documents', documentId, 'content'],
    enabled: inline,
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}/documents/{documentId}/content', { params: { path }, parseAs: 'text' })),
  });
  const [error, setError] = useState<unknown>();
  // A file goes through the client too (a plain link would go without the visitor's token), then is saved.
  const download = async () => {
    setError(undefined);
    try {
      const blob = unwrap(await api.GET('/apis/{apiId}/documents/{documentId}/content', { params: { path }, parseAs: 'blob' }));
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = doc.name;
      link.click();
      URL.revokeObjectURL(link.href);
    } catch (e) {
      setError(e);
    }
  };
  if (doc.sourceType === 'URL') {
    return (
      <Anchor href={doc.sourceUrl} target="_blank" rel="noopener noreferrer">
        {doc.sourceUrl}
      </Anchor>
    );
  }
  if (doc.sourceType === 'FILE') {
    return (
      <Stack gap="xs">
        <Button variant="light" onClick={() => void download()}>
          Download {doc.name}
        </Button>
        {error !== undefined && <ErrorNotice error={error} title="Cannot download the file" />}
      </Stack>
    );
  }
  if (content.isPending) return <LoadingState label="Loading the document" />;
  if (content.isError) return <ErrorNotice error={content.error} title="Cannot read the document" />;
  return (
    <Code block aria-label={`Content of ${doc.name}`} style={{ whiteSpace: 'pre-wrap' }}>
      {String(content.data ?? '') || '(empty)'}
    </Code>
  );
}
