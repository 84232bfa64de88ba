DROP TABLE x12_control;
