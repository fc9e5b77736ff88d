import { Anchor, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router';
import { unwrap, type DevportalComponents } from '@apim/shared';
import { useDevportal } from '../client';
import { ApplicationForm, type ApplicationFields } from '../components/ApplicationForm';
import { queryKeys } from '../queries';

/** `/applications/create`: name, rate-limiting plan and description of a new application. */
export function CreateApplicationPage() {
  const api = useDevportal();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const create = useMutation({
    mutationFn: async (fields: ApplicationFields) =>
      unwrap(await api.POST('/applications', { body: { ...fields, tokenType: 'JWT' } as DevportalComponents['schemas']['Application'] })),
    onSuccess: (app) => {
      void queries.invalidateQueries({ queryKey: queryKeys.applications() });
      // A 202 (an approval workflow) has no application yet: back to the list, where it appears once approved.
      navigate('applicationId' in app ? `/applications/${app.applicationId}/production-keys` : '/applications');
    },
  });
  return (
    <Stack maw={640}>
      <Anchor component={Link} to="/applications" size="sm">
        ← Applications
      </Anchor>
      <Title order={2}>Create application</Title>
      <ApplicationForm
        label="Create application"
        submitLabel="Create"
        cancelTo="/applications"
        pending={create.isPending}
        error={create.error ?? undefined}
        errorTitle="The application was not created"
        onSubmit={(fields) => create.mutate(fields)}
      >
        <Text size="sm" c="dimmed">
          Keys come next: the application gets them on its page.
        </Text>
      </ApplicationForm>
    </Stack>
  );
}
