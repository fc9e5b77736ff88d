import { Anchor, Stack, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import { ErrorNotice, LoadingState, unwrap } from '@apim/shared';
import { useDevportal } from '../client';
import { ApplicationForm, type ApplicationFields } from '../components/ApplicationForm';
import { queryKeys } from '../queries';

/**
 * `/applications/:applicationId/edit`: another name, plan or description. The update carries the `ETag` the
 * application was read with (`If-Match`), so a change made meanwhile elsewhere is refused (412), not overwritten.
 */
export function EditApplicationPage() {
  const { applicationId = '' } = useParams();
  const api = useDevportal();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const current = useQuery({
    queryKey: [...queryKeys.application(applicationId), 'edit'],
    queryFn: async () => {
      const r = await api.GET('/applications/{applicationId}', { params: { path: { applicationId } } });
      return { app: unwrap(r), etag: r.response.headers.get('ETag') ?? undefined };
    },
    staleTime: 0,
    refetchOnWindowFocus: false,
  });
  const save = useMutation({
    mutationFn: async (fields: ApplicationFields) => {
      const a = current.data?.app;
      if (!a) throw new Error('the application is not loaded');
      return unwrap(
        await api.PUT('/applications/{applicationId}', {
          params: { path: { applicationId }, header: current.data?.etag ? { 'If-Match': current.data.etag } : undefined },
          // What the form does not show (token type, attributes, groups) goes back as it was read.
          body: { ...a, ...fields },
        }),
      );
    },
    onSuccess: () => {
      void queries.invalidateQueries({ queryKey: queryKeys.application(applicationId) });
      void queries.invalidateQueries({ queryKey: queryKeys.applications() });
      navigate(`/applications/${applicationId}`);
    },
  });
  if (current.isPending) return <LoadingState label="Loading the application" />;
  if (current.isError) return <ErrorNotice error={current.error} title="Cannot load the application" />;
  const a = current.data.app;
  return (
    <Stack maw={640}>
      <Anchor component={Link} to={`/applications/${applicationId}`} size="sm">
        ← {a.name}
      </Anchor>
      <Title order={2}>Edit application</Title>
      <ApplicationForm
        label="Edit application"
        initial={{ name: a.name, throttlingPolicy: a.throttlingPolicy, description: a.description ?? '' }}
        submitLabel="Save"
        cancelTo={`/applications/${applicationId}`}
        pending={save.isPending}
        error={save.error ?? undefined}
        errorTitle="The application was not saved"
        onSubmit={(fields) => save.mutate(fields)}
      />
    </Stack>
  );
}
