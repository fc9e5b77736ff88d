import { Checkbox, Select, Stack, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { ErrorNotice, LoadingState, unwrap } from '@apim/shared';
import { usePublisher } from '../client';

/** An operation of an API, as a product names it. */
export interface Picked {
  target: string;
  verb: string;
  /** The API operation's own (a product serves it as the API does). */
  authType: string;
}

/** The operations of one API to put in a product: an API chosen, then its operations ticked. */
export function ProductApiPicker({
  index,
  apiId,
  onApi,
  picked,
  onPicked,
}: {
  index: number;
  apiId: string | null;
  onApi: (id: string | null) => void;
  picked: Picked[];
  onPicked: (ops: Picked[]) => void;
}) {
  const api = usePublisher();
  const apis = useQuery({
    queryKey: ['apis', 'for-products'],
    queryFn: async () => unwrap(await api.GET('/apis', { params: { query: { limit: 100 } } })).list ?? [],
  });
  const detail = useQuery({
    queryKey: ['api', apiId],
    enabled: Boolean(apiId),
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}', { params: { path: { apiId: apiId ?? '' } } })),
  });
  if (apis.isPending) return <LoadingState label="Loading APIs" />;
  if (apis.isError) return <ErrorNotice error={apis.error} title="Cannot list APIs" />;
  const n = index + 1;
  const key = (o: Picked) => `${o.verb} ${o.target}`;
  const chosen = new Set(picked.map(key));
  return (
    <Stack gap="xs">
      <Select
        label={`API ${n}`}
        placeholder="An API whose operations the product serves"
        searchable
        data={apis.data.map((a) => ({ value: a.id ?? '', label: `${a.name} ${a.version}` }))}
        value={apiId}
        onChange={(v) => {
          onApi(v);
          onPicked([]);
        }}
      />
      {apiId && detail.isPending && <LoadingState label="Loading its operations" />}
      {detail.isError && <ErrorNotice error={detail.error} title="Cannot read the API" />}
      {detail.data && (
        <Checkbox.Group
          label={`Operations of API ${n}`}
          value={[...chosen]}
          onChange={(keys) => {
            const all = (detail.data.operations ?? []).map((o) => ({ target: o.target ?? '/', verb: o.verb ?? 'GET', authType: o.authType ?? 'Any' }));
            onPicked(all.filter((o) => keys.includes(key(o))));
          }}
        >
          <Stack gap={4} mt={4}>
            {(detail.data.operations ?? []).length === 0 && <Text size="sm">It has no operations.</Text>}
            {(detail.data.operations ?? []).map((o) => {
              const k = `${o.verb ?? 'GET'} ${o.target ?? '/'}`;
              return <Checkbox key={k} value={k} label={k} />;
            })}
          </Stack>
        </Checkbox.Group>
      )}
    </Stack>
  );
}
