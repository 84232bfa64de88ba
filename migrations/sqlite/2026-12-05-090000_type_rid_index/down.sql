DROP INDEX resource_type_rid;
