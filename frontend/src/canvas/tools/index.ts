/** The tool registry: one handler per tool name. */
import { createBrushTool, createEraserTool } from "./brush";
import { createPolygonTool } from "./polygon";
import { createSamClickTool } from "./samClick";
import { createSelectTool } from "./select";
import type { ToolHandler, ToolName } from "./types";

export const TOOL_NAMES: readonly ToolName[] = ["brush", "eraser", "polygon", "samClick", "select"];

export const toolRegistry: Record<ToolName, () => ToolHandler> = {
  brush: createBrushTool,
  eraser: createEraserTool,
  polygon: createPolygonTool,
  samClick: createSamClickTool,
  select: createSelectTool,
};

export type { SamPoint, SamPrompt, ToolContext, ToolHandler, ToolInstance, ToolName, ToolOptions, ToolPointer } from "./types";
