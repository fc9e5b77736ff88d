import { Button, Stack, Text } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { ErrorNotice, unwrap } from '@apim/shared';
import { usePublisher } from '../client';
import { defaultEnvironment, useSettings } from '../queries';

/**
 * "Deploy sample API", as WSO2's empty Publisher offers it: PizzaShack made from an OpenAPI document with
 * examples, answered by the gateway itself (`MOCKED_OAS`, no backend needed), a revision deployed to the default
 * environment and published, in one click; then its page.
 */
export function DeploySampleApi() {
  const api = usePublisher();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const settings = useSettings();
  const deploy = useMutation({
    mutationFn: async () => {
      const { PIZZASHACK_SAMPLE, SAMPLE_API } = await import('../sample/pizzashack');
      const form = new FormData();
      form.set('file', new Blob([JSON.stringify(PIZZASHACK_SAMPLE)], { type: 'application/json' }), 'pizzashack.json');
      form.set('additionalProperties', JSON.stringify({ ...SAMPLE_API, policies: ['Gold', 'Unlimited'], endpointImplementationType: 'MOCKED_OAS' }));
      const created = unwrap(await api.POST('/apis/import-openapi', { body: {} as never, bodySerializer: () => form }));
      const apiId = created.id ?? '';
      const revision = unwrap(await api.POST('/apis/{apiId}/revisions', { params: { path: { apiId } }, body: { description: 'Sample' } }));
      const env = defaultEnvironment(settings.data);
      if (env) {
        unwrap(
          await api.POST('/apis/{apiId}/deploy-revision', {
            params: { path: { apiId }, query: { revisionId: revision.id ?? '' } },
            body: [{ name: env.name, vhost: env.vhost, displayOnDevportal: true, status: 'CREATED' }],
          }),
        );
      }
      unwrap(await api.POST('/apis/change-lifecycle', { params: { query: { apiId, action: 'Publish' } } }));
      return apiId;
    },
    onSuccess: async (apiId) => {
      await queries.invalidateQueries({ queryKey: ['apis'] });
      navigate(`/apis/${apiId}`);
    },
  });
  return (
    <Stack align="center" gap="xs">
      <Button variant="default" onClick={() => deploy.mutate()} loading={deploy.isPending} disabled={settings.isPending}>
        Deploy sample API
      </Button>
      <Text size="sm" c="dimmed" ta="center" maw={420}>
        PizzaShack, answered by the gateway from its OpenAPI examples: no backend needed.
      </Text>
      {deploy.isError && <ErrorNotice error={deploy.error} title="The sample API was not deployed" />}
    </Stack>
  );
}
