//! What an MCP tool result becomes for the model: the text of its content blocks, with the
//! whole result kept as the artifact when the text cannot carry all of it.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

use crate::tool::ToolOutput;

/// The tool output of `result`.
///
/// Text blocks and embedded text resources give their text; images, audio, binary
/// resources and resource links, which a text message cannot hold, are named in brackets
/// (`[image image/png]`); the blocks are joined with newlines. A result without content
/// gives its structured content as JSON text. When some block is not text, or the result
/// has structured content, the whole result (as the MCP wire JSON) is the artifact, so the
/// program keeps the data the model does not read. `isError: true` makes it an error
/// output.
pub(crate) fn tool_output(result: CallToolResult) -> ToolOutput {
    let mut content: Vec<String> = result.content.iter().map(block_text).collect();
    if content.is_empty() {
        if let Some(structured) = &result.structured_content {
            content.push(structured.to_string());
        }
    }
    let text_only = result.content.iter().all(is_text);
    let content = content.join("\n");
    let mut output = if result.is_error == Some(true) {
        ToolOutput::error(content)
    } else {
        ToolOutput::new(content)
    };
    if !text_only || result.structured_content.is_some() {
        output.artifact = serde_json::to_value(&result).ok();
    }
    output
}

/// Whether the text of `block` is all of it.
fn is_text(block: &ContentBlock) -> bool {
    match block {
        ContentBlock::Text(_) => true,
        ContentBlock::Resource(embedded) => {
            matches!(embedded.resource, ResourceContents::TextResourceContents { .. })
        }
        _ => false,
    }
}

/// The text of `block`, or a bracketed name for what text cannot hold.
fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => format!("[image {}]", image.mime_type),
        ContentBlock::Audio(audio) => format!("[audio {}]", audio.mime_type),
        ContentBlock::ResourceLink(link) => format!("[resource link {}]", link.uri),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            ResourceContents::BlobResourceContents { uri, .. } => format!("[resource {uri}]"),
            other => serde_json::to_string(other).unwrap_or_default(),
        },
        // A kind of block newer than this crate: its JSON says what it is.
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ContentBlock, ResourceContents};
    use serde_json::json;

    use super::*;
    use crate::message::ToolStatus;

    #[test]
    fn text_blocks_are_joined_by_newlines_without_an_artifact() {
        let result = CallToolResult::success(vec![
            ContentBlock::text("first"),
            ContentBlock::embedded_text("file:///notes.txt", "second"),
        ]);
        assert_eq!(tool_output(result), ToolOutput::new("first\nsecond"));
    }

    #[test]
    fn an_error_result_is_an_error_output() {
        let output = tool_output(CallToolResult::error(vec![ContentBlock::text("no such city")]));
        assert_eq!(output.status, ToolStatus::Error);
        assert_eq!(output.content, "no such city");
    }

    #[test]
    fn other_blocks_are_named_and_the_whole_result_is_the_artifact() {
        let blob = ResourceContents::BlobResourceContents {
            uri: "file:///map.pdf".into(),
            mime_type: Some("application/pdf".into()),
            blob: "JVBERg==".into(),
            meta: None,
        };
        let result = CallToolResult::success(vec![
            ContentBlock::text("Here is the map:"),
            ContentBlock::image("iVBORw0=", "image/png"),
            ContentBlock::audio("UklGRg==", "audio/wav"),
            ContentBlock::resource(blob),
        ]);
        let output = tool_output(result);
        assert_eq!(
            output.content,
            "Here is the map:\n[image image/png]\n[audio audio/wav]\n[resource file:///map.pdf]"
        );
        assert_eq!(output.status, ToolStatus::Success);
        let artifact = output.artifact.expect("the whole result is kept");
        assert_eq!(
            artifact["content"][1],
            json!({"type": "image", "data": "iVBORw0=", "mimeType": "image/png"})
        );
    }

    #[test]
    fn structured_content_alone_is_its_json_text() {
        let mut result = CallToolResult::structured(json!({"rate": 0.92}));
        result.content.clear();
        let output = tool_output(result);
        assert_eq!(output.content, r#"{"rate":0.92}"#);
        assert_eq!(output.artifact.unwrap()["structuredContent"], json!({"rate": 0.92}));
    }
}
