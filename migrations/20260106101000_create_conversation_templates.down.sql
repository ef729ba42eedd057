DROP TABLE conversation_templates;
