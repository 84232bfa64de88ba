DROP TABLE hl7_message;
