import { Button, FileInput, Group, SegmentedControl, Select, Stack, Text, Textarea, TextInput } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { ErrorNotice } from '@apim/shared';
import type { Document } from '../queries';

export type DocType = Document['type'];
export type SourceType = Document['sourceType'];
export type DocVisibility = Document['visibility'];

export const DOC_TYPES: { value: DocType; label: string }[] = [
  { value: 'HOWTO', label: 'How to' },
  { value: 'SAMPLES', label: 'Samples' },
  { value: 'PUBLIC_FORUM', label: 'Public forum' },
  { value: 'SUPPORT_FORUM', label: 'Support forum' },
  { value: 'API_MESSAGE_FORMAT', label: 'API message format' },
  { value: 'OTHER', label: 'Other' },
];
export const SOURCES: { value: SourceType; label: string }[] = [
  { value: 'INLINE', label: 'Inline' },
  { value: 'MARKDOWN', label: 'Markdown' },
  { value: 'URL', label: 'URL' },
  { value: 'FILE', label: 'File' },
];
export const VISIBILITIES: { value: DocVisibility; label: string }[] = [
  { value: 'API_LEVEL', label: 'Same as the API' },
  { value: 'PRIVATE', label: 'Signed-in users only' },
  { value: 'OWNER_ONLY', label: 'Publishers only (not in the Developer Portal)' },
];

/** What the form edits: the document's fields, its text (inline, markdown) and a file to upload (file). */
export interface DocumentFields {
  name: string;
  type: DocType;
  otherTypeName: string;
  summary: string;
  sourceType: SourceType;
  sourceUrl: string;
  visibility: DocVisibility;
  content: string;
  file: File | null;
}

export const EMPTY_DOCUMENT: DocumentFields = {
  name: '',
  type: 'HOWTO',
  otherTypeName: '',
  summary: '',
  sourceType: 'INLINE',
  sourceUrl: '',
  visibility: 'API_LEVEL',
  content: '',
  file: null,
};

/**
 * A document's name, type, summary, source (inline text, markdown, a URL or an uploaded file) and visibility, for
 * adding one or editing it. The input stays as typed when the server refuses it.
 */
export function DocumentForm({
  label,
  initial,
  fileName,
  submitLabel,
  pending,
  error,
  onSubmit,
  onCancel,
}: {
  label: string;
  initial: DocumentFields;
  /** The file an existing FILE document holds. */
  fileName?: string;
  submitLabel: string;
  pending: boolean;
  error: unknown;
  onSubmit: (fields: DocumentFields) => void;
  onCancel: () => void;
}) {
  const [f, setF] = useState<DocumentFields>(initial);
  const set = <K extends keyof DocumentFields>(k: K, v: DocumentFields[K]) => setF((old) => ({ ...old, [k]: v }));
  const needsFile = f.sourceType === 'FILE' && !f.file && !(fileName && initial.sourceType === 'FILE');
  const ready = f.name.trim() && (f.sourceType !== 'URL' || f.sourceUrl.trim()) && (f.type !== 'OTHER' || f.otherTypeName.trim()) && !needsFile;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (ready) onSubmit({ ...f, name: f.name.trim(), summary: f.summary.trim(), sourceUrl: f.sourceUrl.trim() });
  };
  return (
    <form onSubmit={submit} aria-label={label}>
      <Stack>
        <TextInput label="Name" value={f.name} onChange={(e) => set('name', e.currentTarget.value)} required maxLength={255} />
        <Select
          label="Type"
          data={DOC_TYPES}
          value={f.type}
          onChange={(v) => v && set('type', v as DocType)}
          allowDeselect={false}
          required
        />
        {f.type === 'OTHER' && (
          <TextInput label="Name of the type" value={f.otherTypeName} onChange={(e) => set('otherTypeName', e.currentTarget.value)} required maxLength={255} />
        )}
        <Textarea label="Summary" value={f.summary} onChange={(e) => set('summary', e.currentTarget.value)} autosize minRows={2} />
        <Stack gap={4}>
          <Text size="sm" fw={500} id={`${label}-source`}>
            Source
          </Text>
          <SegmentedControl
            aria-labelledby={`${label}-source`}
            data={SOURCES}
            value={f.sourceType}
            onChange={(v) => set('sourceType', v as SourceType)}
          />
        </Stack>
        {(f.sourceType === 'INLINE' || f.sourceType === 'MARKDOWN') && (
          <Textarea
            label={f.sourceType === 'MARKDOWN' ? 'Content (Markdown)' : 'Content'}
            value={f.content}
            onChange={(e) => set('content', e.currentTarget.value)}
            autosize
            minRows={6}
            maxRows={20}
          />
        )}
        {f.sourceType === 'URL' && (
          <TextInput label="URL" type="url" placeholder="https://" value={f.sourceUrl} onChange={(e) => set('sourceUrl', e.currentTarget.value)} required />
        )}
        {f.sourceType === 'FILE' && (
          <FileInput
            label="File"
            description={fileName && initial.sourceType === 'FILE' ? `Now: ${fileName}; choose another to replace it (at most 10 MiB)` : 'At most 10 MiB'}
            value={f.file}
            onChange={(v) => set('file', v)}
            clearable
            required={needsFile}
          />
        )}
        <Select
          label="Visibility"
          description="Who sees the document in the Developer Portal"
          data={VISIBILITIES}
          value={f.visibility}
          onChange={(v) => v && set('visibility', v as DocVisibility)}
          allowDeselect={false}
        />
        {error != null && <ErrorNotice error={error} title="The document was not saved" />}
        <Group>
          <Button type="submit" loading={pending} disabled={!ready}>
            {submitLabel}
          </Button>
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
