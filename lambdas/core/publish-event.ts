/** The SNS event shape the publish Lambda receives from its topic subscription. */
export interface SnsEvent {
  Records: { EventSource?: string; Sns: { MessageId?: string; Message: string } }[];
}

/** True when the invocation payload is an SNS event rather than a direct publish body. */
export function isSnsEvent(event: unknown): event is SnsEvent {
  if (typeof event !== 'object' || event === null || !Array.isArray((event as SnsEvent).Records))
    return false;
  const records = (event as SnsEvent).Records;
  return (
    records.length > 0 &&
    records.every(
      (r) =>
        typeof r === 'object' &&
        r !== null &&
        typeof r.Sns === 'object' &&
        r.Sns !== null &&
        typeof r.Sns.Message === 'string',
    )
  );
}
