DROP TABLE custom_search_param;
