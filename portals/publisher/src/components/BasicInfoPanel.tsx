import { Button, Card, FileInput, Group, Image, MultiSelect, Select, Stack, TagsInput, Text, Textarea, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice, unwrap, useHasScope } from '@apim/shared';
import { usePublisher, type Api } from '../client';
import { queryKeys, useApiEditor, type ApiRead } from '../queries';
import { SaveError } from './SaveError';

type Visibility = NonNullable<Api['visibility']>;
const VISIBILITY: { value: Visibility; label: string }[] = [
  { value: 'PUBLIC', label: 'Public: anyone, signed in or not' },
  { value: 'RESTRICTED', label: 'Restricted by roles' },
  { value: 'PRIVATE', label: 'Signed-in users of this organisation' },
];

/** WSO2's `roleId`: the role name, Base64URL-encoded. */
export function roleId(role: string): string {
  const bytes = new TextEncoder().encode(role);
  let bin = '';
  bytes.forEach((b) => (bin += String.fromCharCode(b)));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The image as a `data:` URL (the portal's CSP takes images from itself and `data:` only; the request needs the token). */
function useThumbnail(apiId: string) {
  const api = usePublisher();
  return useQuery({
    queryKey: queryKeys.thumbnail(apiId),
    queryFn: async () => {
      const r = await api.GET('/apis/{apiId}/thumbnail', { params: { path: { apiId } }, parseAs: 'blob' });
      if (r.response.status === 404) return null;
      const blob = unwrap(r) as Blob;
      return await new Promise<string>((ok, fail) => {
        const reader = new FileReader();
        reader.onload = () => ok(String(reader.result));
        reader.onerror = () => fail(reader.error);
        reader.readAsDataURL(blob);
      });
    },
  });
}

/** "Thumbnail": the image the Developer Portal shows on the API's card; uploaded at once, on its own. */
function Thumbnail({ apiId, canEdit }: { apiId: string; canEdit: boolean }) {
  const api = usePublisher();
  const queries = useQueryClient();
  const current = useThumbnail(apiId);
  const [file, setFile] = useState<File | null>(null);
  const upload = useMutation({
    mutationFn: async (f: File) => {
      const form = new FormData();
      form.set('file', f, f.name);
      return unwrap(await api.PUT('/apis/{apiId}/thumbnail', { params: { path: { apiId } }, body: {} as never, bodySerializer: () => form }));
    },
    onSuccess: () => {
      setFile(null);
      void queries.invalidateQueries({ queryKey: queryKeys.thumbnail(apiId) });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (file) upload.mutate(file);
  };
  return (
    <Card withBorder>
      <Stack>
        <Title order={3}>Thumbnail</Title>
        <Group align="flex-start">
          {current.data ? (
            <Image src={current.data} alt="The API's thumbnail" w={96} h={96} fit="contain" radius="sm" />
          ) : (
            <Text size="sm" c="dimmed">
              {current.isPending ? 'Loading…' : 'No thumbnail yet.'}
            </Text>
          )}
          {canEdit && (
            <form onSubmit={submit} aria-label="Upload thumbnail" style={{ flex: 1, minWidth: 220 }}>
              <Stack gap="xs">
                <FileInput
                  label="Image"
                  description="PNG, JPEG, GIF, WebP or SVG, at most 1 MiB"
                  accept="image/png,image/jpeg,image/gif,image/webp,image/svg+xml"
                  value={file}
                  onChange={setFile}
                  clearable
                />
                {upload.isError && <ErrorNotice error={upload.error} title="The thumbnail was not uploaded" />}
                {upload.isSuccess && (
                  <Text size="sm" role="status">
                    Uploaded.
                  </Text>
                )}
                <Group>
                  <Button type="submit" variant="default" disabled={!file} loading={upload.isPending}>
                    Upload thumbnail
                  </Button>
                </Group>
              </Stack>
            </form>
          )}
        </Group>
        {current.isError && <ErrorNotice error={current.error} title="Cannot load the thumbnail" />}
      </Stack>
    </Card>
  );
}

/**
 * The "Basic info" tab: description, tags, categories and who sees the API in the Developer Portal, saved with
 * `PUT /apis/{apiId}` over the API as it was read (`If-Match`); and the thumbnail.
 */
export function BasicInfoPanel({ apiId, read }: { apiId: string; read: ApiRead }) {
  const api = usePublisher();
  const canEdit = useHasScope('apim:api_create');
  const editor = useApiEditor(apiId, read);
  const a = read.api;
  const [description, setDescription] = useState(a.description ?? '');
  const [tags, setTags] = useState<string[]>(a.tags ?? []);
  const [categories, setCategories] = useState<string[]>(a.categories ?? []);
  const [visibility, setVisibility] = useState<Visibility>(a.visibility ?? 'PUBLIC');
  const [roles, setRoles] = useState<string[]>(a.visibleRoles ?? []);
  const [initial, setInitial] = useState<Partial<Api>>(() => ({
    description: a.description ?? '',
    tags: a.tags ?? [],
    categories: a.categories ?? [],
    visibility: a.visibility ?? 'PUBLIC',
    visibleRoles: (a.visibility ?? 'PUBLIC') === 'RESTRICTED' ? (a.visibleRoles ?? []) : [],
  }));
  const known = useQuery({
    queryKey: queryKeys.categories(),
    queryFn: async () => unwrap(await api.GET('/api-categories')).list ?? [],
    staleTime: 60_000,
  });
  const [unknownRoles, setUnknownRoles] = useState<string[]>([]);
  const save = useMutation({
    mutationFn: async () => {
      // WSO2 checks each role before saving (`HEAD /roles/{roleId}`): a misspelt role would hide the API from everyone.
      if (visibility === 'RESTRICTED') {
        const missing: string[] = [];
        for (const role of roles) {
          const r = await api.HEAD('/roles/{roleId}', { params: { path: { roleId: roleId(role) } } });
          if (r.response.status === 404) missing.push(role);
        }
        setUnknownRoles(missing);
        if (missing.length) return;
      }
      // Only what the user changed goes over the API as read: after a 412 and a new read, the fields they left
      // alone take the other change's values. A refusal of the save itself is the editor's to show.
      const form: Partial<Api> = { description, tags, categories, visibility, visibleRoles: visibility === 'RESTRICTED' ? roles : [] };
      const changes = Object.fromEntries(
        Object.entries(form).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(initial[k as keyof typeof initial])),
      ) as Partial<Api>;
      const saved = await editor.save.mutateAsync(changes).catch(() => undefined);
      if (saved) setInitial(form);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const categoryNames = Array.from(new Set([...(known.data ?? []).map((c) => c.name), ...categories]));
  return (
    <Stack>
      <form onSubmit={submit} aria-label="Basic info">
        <Stack>
          <Textarea
            label="Description"
            value={description}
            onChange={(e) => setDescription(e.currentTarget.value)}
            autosize
            minRows={3}
            maxRows={12}
            readOnly={!canEdit}
          />
          <TagsInput label="Tags" description="Press Enter after each tag" value={tags} onChange={setTags} readOnly={!canEdit} clearable />
          <MultiSelect
            label="Categories"
            description={known.data && !known.data.length ? 'No categories yet: an administrator adds them in the Admin portal' : undefined}
            data={categoryNames}
            value={categories}
            onChange={setCategories}
            disabled={known.isPending || !canEdit}
            searchable
            clearable
          />
          {known.isError && <ErrorNotice error={known.error} title="Cannot list the API categories" />}
          <Select
            label="Developer Portal visibility"
            data={VISIBILITY}
            value={visibility}
            onChange={(v) => v && setVisibility(v as Visibility)}
            allowDeselect={false}
            readOnly={!canEdit}
          />
          {visibility === 'RESTRICTED' && (
            <TagsInput
              label="Roles"
              description="Users holding any of these roles see the API"
              value={roles}
              onChange={(v) => {
                setRoles(v);
                setUnknownRoles([]);
              }}
              required
              error={unknownRoles.length ? `No such role: ${unknownRoles.join(', ')}` : undefined}
              readOnly={!canEdit}
            />
          )}
          <SaveError editor={editor} />
          {save.isError && <ErrorNotice error={save.error} title="The roles could not be checked" />}
          {editor.save.isSuccess && !save.isPending && (
            <Text size="sm" role="status">
              Saved.
            </Text>
          )}
          {canEdit && (
            <Group>
              <Button type="submit" loading={save.isPending} disabled={visibility === 'RESTRICTED' && !roles.length}>
                Save
              </Button>
            </Group>
          )}
        </Stack>
      </form>
      <Thumbnail apiId={apiId} canEdit={canEdit} />
    </Stack>
  );
}
