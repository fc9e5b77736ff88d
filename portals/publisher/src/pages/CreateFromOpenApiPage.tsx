import { Button, FileInput, Group, SegmentedControl, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { ErrorNotice, unwrap } from '@apim/shared';
import { usePublisher } from '../client';

type Source = 'url' | 'file';

/** What the form sends as `additionalProperties`: only the fields the user filled in (the server derives the rest). */
export function apiProperties(fields: { name: string; version: string; context: string; endpoint: string }): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  if (fields.name.trim()) props.name = fields.name.trim();
  if (fields.version.trim()) props.version = fields.version.trim();
  if (fields.context.trim()) props.context = fields.context.trim();
  const endpoint = fields.endpoint.trim();
  if (endpoint) {
    props.endpointConfig = {
      endpoint_type: 'http',
      production_endpoints: { url: endpoint },
      sandbox_endpoints: { url: endpoint },
    };
  }
  return props;
}

/** `/apis/create/openapi`: an API from an OpenAPI document given by URL or as a file (`POST /apis/import-openapi`). */
export function CreateFromOpenApiPage() {
  const api = usePublisher();
  const navigate = useNavigate();
  const [source, setSource] = useState<Source>('file');
  const [url, setUrl] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [fields, setFields] = useState({ name: '', version: '', context: '', endpoint: '' });
  const field = (k: keyof typeof fields) => ({
    value: fields[k],
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => setFields({ ...fields, [k]: e.currentTarget.value }),
  });
  const create = useMutation({
    mutationFn: async () => {
      const form = new FormData();
      if (source === 'url') form.set('url', url.trim());
      else if (file) form.set('file', file, file.name);
      form.set('additionalProperties', JSON.stringify(apiProperties(fields)));
      return unwrap(
        await api.POST('/apis/import-openapi', {
          body: {} as never,
          bodySerializer: () => form,
        }),
      );
    },
    onSuccess: (created) => navigate(`/apis/${created.id}`),
  });
  const ready = source === 'url' ? url.trim() !== '' : file !== null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (ready) create.mutate();
  };
  return (
    <Stack maw={640}>
      <Title order={2}>Create API from OpenAPI</Title>
      <form onSubmit={submit} aria-label="Create API from OpenAPI">
        <Stack>
          <SegmentedControl
            value={source}
            onChange={(v) => setSource(v as Source)}
            data={[
              { value: 'file', label: 'OpenAPI file' },
              { value: 'url', label: 'OpenAPI URL' },
            ]}
            aria-label="Where the OpenAPI document comes from"
          />
          {source === 'url' ? (
            <TextInput label="OpenAPI URL" placeholder="https://example.com/openapi.yaml" value={url} onChange={(e) => setUrl(e.currentTarget.value)} required />
          ) : (
            <FileInput
              label="OpenAPI file"
              description="JSON or YAML (OpenAPI 3 or Swagger 2.0), or a .zip archive of a multi-file definition"
              value={file} onChange={setFile} accept=".json,.yaml,.yml,.zip" clearable required />
          )}
          <Text size="sm" c="dimmed">
            Leave a field empty to take it from the document (its title, version and servers).
          </Text>
          <TextInput label="Name" {...field('name')} />
          <Group grow>
            <TextInput label="Context" placeholder="/pizzashack" {...field('context')} />
            <TextInput label="Version" placeholder="1.0.0" {...field('version')} />
          </Group>
          <TextInput label="Endpoint URL" placeholder="http://backend:8080/pizzashack" {...field('endpoint')} />
          {create.isError && <ErrorNotice error={create.error} title="The API was not created" />}
          <Group>
            <Button type="submit" loading={create.isPending} disabled={!ready}>
              Create
            </Button>
            <Button variant="default" onClick={() => navigate('/apis')}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
