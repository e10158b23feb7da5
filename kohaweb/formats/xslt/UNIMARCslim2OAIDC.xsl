<?xml version="1.0" encoding="UTF-8"?>
<!--
  UNIMARC (in MARC21 slim XML) to simple Dublin Core (oai_dc), written for kohaweb from the UNIMARC
  field definitions: title 200 $a$e (and 517/541); creator 700-702/710-712; subject 600-608 and
  610; description 300-330 (330 summary); publisher 210/214 $a$c; date 210/214 $d, else 100/9-12;
  type from leader/06 and 608; format 215 and 856 $q; identifier 010/011/013/014/015/016/017 and
  856 $u; language 101 $a; relation 410-488 $t; coverage 607; rights 310/371; source 324.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:marc="http://www.loc.gov/MARC21/slim"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    exclude-result-prefixes="marc">
  <xsl:output method="xml" indent="no" encoding="UTF-8"/>

  <xsl:template name="subfields">
    <xsl:param name="codes" select="'abcdefghijklmnopqrstuvwxyz'"/>
    <xsl:param name="separator" select="' '"/>
    <xsl:variable name="text">
      <xsl:for-each select="marc:subfield[contains($codes, @code)]">
        <xsl:value-of select="normalize-space(translate(., '&#x88;&#x89;&#x98;&#x9C;', ''))"/>
        <xsl:if test="position() != last()"><xsl:value-of select="$separator"/></xsl:if>
      </xsl:for-each>
    </xsl:variable>
    <xsl:value-of select="normalize-space($text)"/>
  </xsl:template>

  <xsl:template match="/">
    <xsl:apply-templates select="(//marc:record)[1]"/>
  </xsl:template>

  <xsl:template match="marc:record">
    <xsl:variable name="leader6" select="substring(marc:leader, 7, 1)"/>
    <xsl:variable name="coded" select="marc:datafield[@tag='100']/marc:subfield[@code='a']"/>
    <oai_dc:dc xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
               xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <xsl:for-each select="marc:datafield[@tag='200']">
        <dc:title>
          <xsl:call-template name="subfields"><xsl:with-param name="codes" select="'a'"/></xsl:call-template>
          <xsl:if test="marc:subfield[@code='e']"> : <xsl:call-template name="subfields"><xsl:with-param name="codes" select="'e'"/><xsl:with-param name="separator" select="' : '"/></xsl:call-template></xsl:if>
        </dc:title>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='517' or @tag='541']">
        <dc:title><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'ae'"/></xsl:call-template></dc:title>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='700' or @tag='701' or @tag='702' or @tag='710' or @tag='711' or @tag='712']">
        <dc:creator>
          <xsl:value-of select="normalize-space(marc:subfield[@code='a'])"/>
          <xsl:if test="marc:subfield[@code='b']">, <xsl:value-of select="normalize-space(marc:subfield[@code='b'])"/></xsl:if>
          <xsl:if test="marc:subfield[@code='f']"> (<xsl:value-of select="normalize-space(marc:subfield[@code='f'])"/>)</xsl:if>
        </dc:creator>
      </xsl:for-each>
      <xsl:choose>
        <xsl:when test="$leader6 = 'a' or $leader6 = 'b'"><dc:type>text</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'c' or $leader6 = 'd'"><dc:type>notated music</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'e' or $leader6 = 'f'"><dc:type>cartographic</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'g'"><dc:type>projected medium</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'i'"><dc:type>sound recording-nonmusical</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'j'"><dc:type>sound recording-musical</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'k'"><dc:type>still image</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'l'"><dc:type>electronic resource</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'm'"><dc:type>multimedia</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'r'"><dc:type>three dimensional object</dc:type></xsl:when>
      </xsl:choose>
      <xsl:for-each select="marc:datafield[@tag='608']">
        <dc:type><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'axyz'"/><xsl:with-param name="separator" select="'--'"/></xsl:call-template></dc:type>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='210' or @tag='214'][marc:subfield[@code='a' or @code='c']]">
        <dc:publisher>
          <xsl:value-of select="normalize-space(marc:subfield[@code='c'])"/>
          <xsl:if test="marc:subfield[@code='a'] and marc:subfield[@code='c']"> (</xsl:if>
          <xsl:value-of select="normalize-space(marc:subfield[@code='a'])"/>
          <xsl:if test="marc:subfield[@code='a'] and marc:subfield[@code='c']">)</xsl:if>
        </dc:publisher>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='210' or @tag='214']/marc:subfield[@code='d']">
        <dc:date><xsl:value-of select="normalize-space(.)"/></dc:date>
      </xsl:for-each>
      <xsl:if test="not(marc:datafield[@tag='210' or @tag='214']/marc:subfield[@code='d']) and translate(substring($coded, 10, 4), '0123456789', '') = '' and string-length(substring($coded, 10, 4)) = 4">
        <dc:date><xsl:value-of select="substring($coded, 10, 4)"/></dc:date>
      </xsl:if>
      <xsl:for-each select="marc:datafield[@tag='101']/marc:subfield[@code='a']">
        <dc:language><xsl:value-of select="normalize-space(.)"/></dc:language>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='215']">
        <dc:format><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'acd'"/></xsl:call-template></dc:format>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='856']/marc:subfield[@code='q']">
        <dc:format><xsl:value-of select="normalize-space(.)"/></dc:format>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[starts-with(@tag, '3') and @tag != '310' and @tag != '324' and @tag != '371']">
        <dc:description><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'a'"/></xsl:call-template></dc:description>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='600' or @tag='601' or @tag='602' or @tag='604' or @tag='605' or @tag='606' or @tag='610']">
        <dc:subject><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'abcdfjtxyz'"/><xsl:with-param name="separator" select="'--'"/></xsl:call-template></dc:subject>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='607']">
        <dc:coverage><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'axyz'"/><xsl:with-param name="separator" select="'--'"/></xsl:call-template></dc:coverage>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[starts-with(@tag, '4') and marc:subfield[@code='t']]">
        <dc:relation><xsl:value-of select="normalize-space(marc:subfield[@code='t'])"/></dc:relation>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='324']">
        <dc:source><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'a'"/></xsl:call-template></dc:source>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='310' or @tag='371']">
        <dc:rights><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'a'"/></xsl:call-template></dc:rights>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='010']/marc:subfield[@code='a']">
        <dc:identifier>URN:ISBN:<xsl:value-of select="normalize-space(.)"/></dc:identifier>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='011']/marc:subfield[@code='a']">
        <dc:identifier>URN:ISSN:<xsl:value-of select="normalize-space(.)"/></dc:identifier>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='013' or @tag='014' or @tag='015' or @tag='016' or @tag='017']/marc:subfield[@code='a']">
        <dc:identifier><xsl:value-of select="normalize-space(.)"/></dc:identifier>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='856']/marc:subfield[@code='u']">
        <dc:identifier><xsl:value-of select="normalize-space(.)"/></dc:identifier>
      </xsl:for-each>
    </oai_dc:dc>
  </xsl:template>
</xsl:stylesheet>
