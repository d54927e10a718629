//! Our [`ChatRequest`] as a chat-completions request body.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionTools, CreateChatCompletionRequest, FunctionCall, FunctionObject,
    ResponseFormat as WireResponseFormat, ResponseFormatJsonSchema,
};

use super::schema::{clean, SchemaDialect};
use crate::message::{AssistantMessage, Message};
use crate::model::{ChatRequest, ResponseFormat};
use crate::tool::ToolSpec;

/// What the model's settings add to every request.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) model: String,
    pub(crate) temperature: Option<f32>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) dialect: SchemaDialect,
}

/// The body for `request`; `stream` asks for server-sent events with usage at the end.
///
/// `parallel_tool_calls` is never sent: providers default to allowing parallel calls, and
/// several OpenAI-compatible servers reject the field.
pub(crate) fn chat_body(
    settings: &Settings,
    request: ChatRequest<'_>,
    stream: bool,
) -> CreateChatCompletionRequest {
    let system = request.system.map(|prompt| system_message(prompt, None));
    let messages = system.into_iter().chain(request.messages.iter().filter_map(wire_message));
    let tools: Vec<ChatCompletionTools> =
        request.tools.iter().map(|spec| wire_tool(spec, settings.dialect)).collect();
    CreateChatCompletionRequest {
        model: settings.model.clone(),
        messages: messages.collect(),
        tools: (!tools.is_empty()).then_some(tools),
        response_format: request.response_format.map(|f| wire_format(f, settings.dialect)),
        temperature: settings.temperature,
        max_completion_tokens: settings.max_tokens,
        stream: stream.then_some(true),
        stream_options: stream.then_some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        }),
        ..Default::default()
    }
}

/// The wire form of one message; `None` for a removal marker, which is never sent.
fn wire_message(message: &Message) -> Option<ChatCompletionRequestMessage> {
    Some(match message {
        Message::System(m) => system_message(&m.content, m.name.clone()),
        Message::User(m) => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(m.content.clone()),
            name: m.name.clone(),
        }),
        Message::Assistant(m) => assistant_message(m),
        // A failed call's message is sent like any result: its content says what went wrong.
        Message::Tool(m) => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(m.content.clone()),
            tool_call_id: m.tool_call_id.clone(),
        }),
        Message::Remove(_) => return None,
    })
}

fn system_message(content: &str, name: Option<String>) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
        content: ChatCompletionRequestSystemMessageContent::Text(content.to_owned()),
        name,
    })
}

fn assistant_message(message: &AssistantMessage) -> ChatCompletionRequestMessage {
    let calls: Vec<ChatCompletionMessageToolCalls> = message
        .tool_calls
        .iter()
        .map(|call| {
            ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                id: call.id.clone(),
                function: FunctionCall {
                    name: call.name.clone(),
                    arguments: call.args.to_string(),
                },
            })
        })
        .collect();
    // A message that only calls tools has no content on the wire rather than an empty one.
    let content = (!message.content.is_empty() || calls.is_empty())
        .then(|| ChatCompletionRequestAssistantMessageContent::Text(message.content.clone()));
    ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
        content,
        name: message.name.clone(),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Default::default()
    })
}

fn wire_tool(spec: &ToolSpec, dialect: SchemaDialect) -> ChatCompletionTools {
    let parameters = clean(&spec.parameters, dialect);
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: spec.name.clone(),
            description: (!spec.description.is_empty()).then(|| spec.description.clone()),
            parameters: Some(parameters.schema),
            strict: parameters.strict,
        },
    })
}

fn wire_format(format: &ResponseFormat, dialect: SchemaDialect) -> WireResponseFormat {
    let schema = clean(&format.schema, dialect);
    WireResponseFormat::JsonSchema {
        json_schema: ResponseFormatJsonSchema {
            description: None,
            name: format.name.clone(),
            schema: schema.schema,
            strict: schema.strict,
        },
    }
}
