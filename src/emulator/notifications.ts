/**
 * The SageMaker completion notification, in AWS's JSON (see the reference): a pure
 * builder, and the publisher that sends it to SNS.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

/** Responses up to this size are embedded when IncludeInferenceResponseIn asks for it. */
export const MAX_EMBEDDED_RESPONSE_BYTES = 128 * 1024;

export interface RequestParameters {
  contentType: string;
  endpointName: string;
  inputLocation: string;
  accept?: string;
  customAttributes?: string;
}

export interface ResponseBody {
  content: string;
  encoding: 'BASE64';
  message?: string;
}

export interface SageMakerNotification {
  awsRegion: string;
  eventTime: string;
  receivedTime: string;
  invocationStatus: 'Completed' | 'Failed';
  failureReason?: string;
  requestParameters: RequestParameters;
  responseParameters?: { contentType: string; outputLocation: string };
  inferenceId: string;
  eventVersion: '1.0';
  eventSource: 'aws:sagemaker';
  eventName: 'InferenceResult';
  responseBody?: ResponseBody;
}

export interface NotificationFacts {
  region: string;
  /** When the request was received (ms since the epoch). */
  receivedAt: number;
  /** When the result was final. */
  finishedAt: number;
  endpointName: string;
  inferenceId: string;
  /** The request's ContentType (application/octet-stream when it gave none). */
  contentType: string;
  inputLocation: string;
  accept?: string;
  customAttributes?: string;
}

function requestParameters(facts: NotificationFacts): RequestParameters {
  const params: RequestParameters = {
    contentType: facts.contentType,
    endpointName: facts.endpointName,
    inputLocation: facts.inputLocation,
  };
  if (facts.accept !== undefined) params.accept = facts.accept;
  if (facts.customAttributes !== undefined) params.customAttributes = facts.customAttributes;
  return params;
}

/** The embedded body, or undefined when there is none or it is over 128 KB. */
export function embeddedResponse(body: Buffer | undefined): ResponseBody | undefined {
  if (!body || body.length > MAX_EMBEDDED_RESPONSE_BYTES) return undefined;
  return { content: body.toString('base64'), encoding: 'BASE64' };
}

export function buildSuccessNotification(
  facts: NotificationFacts,
  result: { contentType: string; outputLocation: string; embed?: Buffer },
): SageMakerNotification {
  const message: SageMakerNotification = {
    awsRegion: facts.region,
    eventTime: new Date(facts.finishedAt).toISOString(),
    receivedTime: new Date(facts.receivedAt).toISOString(),
    invocationStatus: 'Completed',
    requestParameters: requestParameters(facts),
    responseParameters: { contentType: result.contentType, outputLocation: result.outputLocation },
    inferenceId: facts.inferenceId,
    eventVersion: '1.0',
    eventSource: 'aws:sagemaker',
    eventName: 'InferenceResult',
  };
  const responseBody = embeddedResponse(result.embed);
  if (responseBody) message.responseBody = responseBody;
  return message;
}

export function buildErrorNotification(
  facts: NotificationFacts,
  result: { failureReason: string; embed?: Buffer },
): SageMakerNotification {
  const message: SageMakerNotification = {
    awsRegion: facts.region,
    eventTime: new Date(facts.finishedAt).toISOString(),
    receivedTime: new Date(facts.receivedAt).toISOString(),
    invocationStatus: 'Failed',
    failureReason: result.failureReason,
    requestParameters: requestParameters(facts),
    inferenceId: facts.inferenceId,
    eventVersion: '1.0',
    eventSource: 'aws:sagemaker',
    eventName: 'InferenceResult',
  };
  const responseBody = embeddedResponse(result.embed);
  if (responseBody) message.responseBody = responseBody;
  return message;
}

/** Sends notifications to SNS topics. */
export class NotificationPublisher {
  constructor(private readonly sns: SNSClient) {}

  /** Publishes the message; resolves with the SNS MessageId. */
  async publish(topicArn: string, message: SageMakerNotification): Promise<string | undefined> {
    const out = await this.sns.send(
      new PublishCommand({ TopicArn: topicArn, Message: JSON.stringify(message) }),
    );
    return out.MessageId;
  }
}
